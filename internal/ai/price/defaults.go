package price

// defaults holds the public list prices of well-known models, in US dollars
// per million tokens, standard (not batch, flex or priority) tier, checked on
// 2026-11-25 against:
//
//   - OpenAI: the API pricing page (platform.openai.com/docs/pricing), as
//     mirrored in pydantic/genai-prices' prices/providers/openai.yml
//     (checked there 2025-07 to 2025-11) and, for GPT-5.4 and GPT-5.5, as
//     quoted from the pricing page in June to November 2026. The rates apply
//     to prompts under 270K tokens; longer GPT-5.4/5.5 prompts cost more.
//   - Anthropic: the pricing page (platform.claude.com/docs/en/about-claude/pricing).
//     CacheWrite is the 5-minute cache write (1.25x input); 1-hour writes
//     cost 2x input and are billed here at the 5-minute rate, because
//     ai.Usage does not tell them apart. Sonnet 4 and 4.5 prompts over 200K
//     tokens (1M context beta) cost more and are not modelled.
//   - Google: the Gemini Developer API pricing page
//     (ai.google.dev/gemini-api/docs/pricing), paid tier, text input, prompts
//     up to 200K tokens; CachedInput is the context-caching rate (cache
//     storage per hour is not per token and is not modelled).
//   - DeepSeek: the Models & Pricing page (api-docs.deepseek.com), the
//     DeepSeek-V3.2 prices of deepseek-chat and deepseek-reasoner (cache hit
//     as CachedInput; a cache miss costs Input). Off-peak discounts are not
//     modelled.
//   - Mistral: the API pricing page (mistral.ai/pricing), as mirrored in
//     pydantic/genai-prices' prices/providers/mistral.yml (checked there
//     2026-06 to 2026-08). mistral-large-latest is priced as Mistral Large 3
//     (mistral-large-2512), the model the alias pointed to then.
//
// Prices change, and gateways often run under negotiated or cloud-resold
// prices: operators override any entry, or add models, with a Table built
// from their configuration (NewTable). Keys are the providers' model names
// without date suffixes (Lookup strips them); a dated snapshot gets its own
// key only where its price differs from its alias's.
var defaults = map[string]Price{
	// OpenAI.
	"gpt-4o":                 {Input: 2.50, CachedInput: 1.25, Output: 10},
	"gpt-4o-2024-05-13":      {Input: 5, Output: 15}, // the first gpt-4o snapshot kept its launch price
	"gpt-4o-mini":            {Input: 0.15, CachedInput: 0.075, Output: 0.60},
	"gpt-4.1":                {Input: 2, CachedInput: 0.50, Output: 8},
	"gpt-4.1-mini":           {Input: 0.40, CachedInput: 0.10, Output: 1.60},
	"gpt-4.1-nano":           {Input: 0.10, CachedInput: 0.025, Output: 0.40},
	"gpt-5":                  {Input: 1.25, CachedInput: 0.125, Output: 10},
	"gpt-5-mini":             {Input: 0.25, CachedInput: 0.025, Output: 2},
	"gpt-5-nano":             {Input: 0.05, CachedInput: 0.005, Output: 0.40},
	"gpt-5.1":                {Input: 1.25, CachedInput: 0.125, Output: 10},
	"gpt-5.4":                {Input: 2.50, CachedInput: 0.25, Output: 15},
	"gpt-5.4-mini":           {Input: 0.75, CachedInput: 0.075, Output: 4.50},
	"gpt-5.4-nano":           {Input: 0.20, CachedInput: 0.02, Output: 1.25},
	"gpt-5.5":                {Input: 5, CachedInput: 0.50, Output: 30},
	"o1":                     {Input: 15, CachedInput: 7.50, Output: 60},
	"o3":                     {Input: 2, CachedInput: 0.50, Output: 8},
	"o3-mini":                {Input: 1.10, CachedInput: 0.55, Output: 4.40},
	"o4-mini":                {Input: 1.10, CachedInput: 0.275, Output: 4.40},
	"text-embedding-3-small": {Input: 0.02},
	"text-embedding-3-large": {Input: 0.13},
	"text-embedding-ada-002": {Input: 0.10},

	// Anthropic. The "-4-0" names are Anthropic's aliases of the Claude 4
	// models, which date stripping cannot reach.
	"claude-opus-4-7":   {Input: 5, CachedInput: 0.50, CacheWrite: 6.25, Output: 25},
	"claude-opus-4-6":   {Input: 5, CachedInput: 0.50, CacheWrite: 6.25, Output: 25},
	"claude-opus-4-5":   {Input: 5, CachedInput: 0.50, CacheWrite: 6.25, Output: 25},
	"claude-opus-4-1":   {Input: 15, CachedInput: 1.50, CacheWrite: 18.75, Output: 75},
	"claude-opus-4":     {Input: 15, CachedInput: 1.50, CacheWrite: 18.75, Output: 75},
	"claude-opus-4-0":   {Input: 15, CachedInput: 1.50, CacheWrite: 18.75, Output: 75},
	"claude-sonnet-4-6": {Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15},
	"claude-sonnet-4-5": {Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15},
	"claude-sonnet-4":   {Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15},
	"claude-sonnet-4-0": {Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15},
	"claude-3-7-sonnet": {Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15},
	"claude-haiku-4-5":  {Input: 1, CachedInput: 0.10, CacheWrite: 1.25, Output: 5},
	"claude-3-5-haiku":  {Input: 0.80, CachedInput: 0.08, CacheWrite: 1, Output: 4},
	"claude-3-haiku":    {Input: 0.25, CachedInput: 0.03, CacheWrite: 0.30, Output: 1.25},

	// Google Gemini.
	"gemini-2.5-pro":        {Input: 1.25, CachedInput: 0.125, Output: 10},
	"gemini-2.5-flash":      {Input: 0.30, CachedInput: 0.03, Output: 2.50},
	"gemini-2.5-flash-lite": {Input: 0.10, CachedInput: 0.01, Output: 0.40},
	"gemini-2.0-flash":      {Input: 0.10, CachedInput: 0.025, Output: 0.40},
	"gemini-2.0-flash-001":  {Input: 0.10, CachedInput: 0.025, Output: 0.40},
	"gemini-2.0-flash-lite": {Input: 0.075, Output: 0.30},

	// DeepSeek.
	"deepseek-chat":     {Input: 0.28, CachedInput: 0.028, Output: 0.42},
	"deepseek-reasoner": {Input: 0.28, CachedInput: 0.028, Output: 0.42},

	// Mistral.
	"mistral-large-latest": {Input: 0.50, CachedInput: 0.05, Output: 1.50},
	"mistral-large-2512":   {Input: 0.50, CachedInput: 0.05, Output: 1.50},
	"mistral-large-2411":   {Input: 2, Output: 6},
}
