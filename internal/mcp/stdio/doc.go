// Package stdio runs MCP servers that speak the stdio transport as child
// processes and exposes each one as a Streamable HTTP endpoint of the legacy
// era (2025-03-26 … 2025-11-25): initialize, Mcp-Session-Id, POST answered as
// JSON or SSE, a GET stream for server-initiated messages, DELETE to end a
// session. A [Server] is an http.Handler; the gateway's MCP route mounts it
// as an in-process upstream and does everything else there (auth, Origin
// checks, keep-alives, translation for stateless 2026-07-28 clients).
//
// # One process per session, or one for all
//
// A stdio process is one MCP connection: one initialize, one set of client
// capabilities, one JSON-RPC id space. Mode "session" (the default) keeps
// that model and starts one child per MCP session, so each client gets a
// server of its own; the price is memory and start-up latency per session,
// which MaxProcesses caps.
//
// Mode "shared" starts one child for every session, the way most stdio
// bridges do. The bridge initializes the child once, with the first client's
// initialize params, and answers every later initialize from the cached
// InitializeResult. That is cheaper but not free: whatever the child keeps
// per connection is now shared by all clients. It sees only the first
// client's clientInfo and capabilities and the version that client
// negotiated (later clients are offered that same version, which the spec
// lets them refuse); logging/setLevel and resources/subscribe from one
// client apply to all; task ids, cursors and any state the tools keep are
// visible across clients; notifications the bridge cannot attribute to one
// request (list_changed, resources/updated, log messages while several
// requests are pending) go to every session. A request of the child
// (sampling, elicitation, roots) says nothing of which client it is for, so
// the bridge guesses: the session with the newest pending request, else the
// one heard from last; it refuses the request for the child if that session
// did not declare the capability. supergateway #35 is the standard report of
// such leaks between users. Use shared mode only for servers that are
// stateless per connection.
//
// # Why ids are remapped
//
// In both modes the bridge rewrites the id of every request it forwards to a
// fresh integer of its own and maps the answer back. In shared mode that is
// required: two sessions both sending id 1 would otherwise collide, and a
// response would reach the wrong client. Doing it in session mode too keeps
// one code path and lets the bridge answer a pending request itself when the
// process dies. For the same reason the bridge rewrites what refers to those
// ids: the requestId of notifications/cancelled, and the progress token in
// params._meta.progressToken, which becomes the bridge's request id so that
// progress notifications cannot collide across sessions either. Requests the
// child sends to a client (sampling/createMessage, elicitation/create,
// roots/list, ping) keep the child's ids, which are already unique; the
// bridge remembers which session each went to and accepts the answer only
// from that session.
//
// # Delivery
//
// A POST carrying a request is answered as text/event-stream when Accept
// lists it, else as application/json. The SSE stream carries what belongs
// to that request: progress notifications with its progress token, log
// messages while it is the only pending request, then the response (a JSON
// answer carries the response alone; progress for it is dropped). Other
// server-initiated messages go to the session's GET stream if open, else to
// an open POST stream of the session, else to a backlog of 64 messages that
// the next stream receives; beyond that the oldest is dropped, and a dropped
// request is answered to the child with an error so that it does not wait
// forever. A session has at most one GET stream: a second GET gets 409
// Conflict, as with the go-sdk's own server, because replacing the first
// would let two reconnecting streams evict each other in a loop.
//
// A client that goes away in the middle of an SSE response does not cancel
// its request (the spec says disconnection is not cancellation); the
// response is dropped when it arrives. notifications/cancelled does cancel
// it and ends its stream.
//
// # Processes
//
// A child gets a minimal environment: PATH, HOME, LANG, TMPDIR, USER, SHELL
// and LC_* from the gateway, plus Config.Env. The gateway's environment
// holds its own secrets (provider API keys, database passwords, signing
// keys), and an MCP server is often third-party code fetched by npx or uvx;
// passing everything through would hand those secrets to it. Whatever a
// server needs must be listed in Config.Env.
//
// Each child runs in its own process group (on Unix) so that stopping it
// also stops what it started (npx runs node, uvx runs python). Stopping
// follows the stdio transport's rules: close stdin, wait, SIGTERM, wait,
// SIGKILL, within ShutdownTimeout. Lines on the child's stderr are logged;
// stdout lines that are not JSON-RPC are logged and skipped; a stdout line
// longer than MaxMessageBytes is a protocol violation and kills the child.
//
// When a child exits for any reason, every request still pending gets a
// JSON-RPC error (-32603) naming the server and the exit status, and its
// sessions end: open streams close and later requests get 404, which tells
// clients to initialize again. In shared mode a supervisor restarts the
// child with exponential backoff; sessions made after the restart use the
// new process, and initialize during the backoff gets 503 with Retry-After.
//
// # Sessions and consumers
//
// [WithConsumer] tells the bridge who is calling. A session belongs to the
// consumer that created it: requests naming it from another consumer get 404,
// as if it did not exist, so a leaked session id is not enough to use it.
// Sessions count against MaxPerConsumer until they end: by DELETE, by the
// child's exit, by Close, or after IdleTimeout without requests or open
// streams, which reclaims the sessions (and processes) of clients that went
// away without saying so.
package stdio
