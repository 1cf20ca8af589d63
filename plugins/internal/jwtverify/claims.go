package jwtverify

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Claim errors. Each failure wraps one of them, so a plugin can pick its
// challenge (insufficient_scope) and tests can tell them apart; the client
// sees none of them.
var (
	ErrExpired      = errors.New("token is expired")
	ErrNotYetValid  = errors.New("token is not valid yet")
	ErrIssuedLater  = errors.New("token is issued in the future")
	ErrNoExpiry     = errors.New("token has no exp")
	ErrIssuer       = errors.New("token issuer is not accepted")
	ErrAudience     = errors.New("token audience is not accepted")
	ErrScope        = errors.New("token lacks a required scope")
	ErrClaimType    = errors.New("claim has the wrong type")
	errNoClock      = errors.New("jwtverify: Checks.Clock is nil")
	maxNumericDate  = float64(1 << 52) // beyond any real date; keeps float math exact
	errNumericRange = fmt.Errorf("%w: NumericDate out of range", ErrClaimType)
)

// Checks are the claim checks of RFC 7519 section 4.1 (exp, nbf, iat, iss,
// aud) plus OAuth scopes. The zero value of each field skips its check.
type Checks struct {
	// Clock returns the current time; required (time.Now in production).
	Clock func() time.Time
	// Skew is how far apart the gateway's clock and the issuer's may be:
	// exp and nbf get this much grace, and iat may be this far ahead.
	Skew time.Duration
	// RequireExp refuses tokens without exp.
	RequireExp bool
	// Issuer, if set, must equal the iss claim.
	Issuer string
	// IssuerIfPresent checks Issuer only when the claims have an iss (an
	// introspection answer, where iss is optional per RFC 7662).
	IssuerIfPresent bool
	// Audience, if not empty, must share a value with the aud claim (a
	// string or a list of strings).
	Audience []string
	// Scopes must all be in the scope claim (space-separated, RFC 8693 4.2
	// and RFC 9068) or the scp claim (a list, or a space-separated string
	// as some providers send it).
	Scopes []string
}

// Check applies the checks to claims and returns every failure, joined.
// The time checks use whole-and-fractional seconds as JSON numbers carry
// them; a time claim that is not a number is an error, not ignored.
func (c *Checks) Check(claims map[string]any) error {
	if c.Clock == nil {
		return errNoClock
	}
	now := c.Clock()
	nowS := float64(now.UnixNano()) / 1e9
	skew := c.Skew.Seconds()
	var errs []error

	if exp, ok, err := numericDate(claims, "exp"); err != nil {
		errs = append(errs, err)
	} else if !ok && c.RequireExp {
		errs = append(errs, ErrNoExpiry)
	} else if ok && nowS >= exp+skew { // RFC 7519 4.1.4: now must be before exp
		errs = append(errs, fmt.Errorf("%w: exp %s, now %s", ErrExpired, unix(exp), now.UTC().Format(time.RFC3339)))
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		errs = append(errs, err)
	} else if ok && nowS+skew < nbf {
		errs = append(errs, fmt.Errorf("%w: nbf %s, now %s", ErrNotYetValid, unix(nbf), now.UTC().Format(time.RFC3339)))
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil {
		errs = append(errs, err)
	} else if ok && iat > nowS+skew {
		errs = append(errs, fmt.Errorf("%w: iat %s, now %s", ErrIssuedLater, unix(iat), now.UTC().Format(time.RFC3339)))
	}

	if c.Issuer != "" {
		iss, present := claims["iss"]
		s, isString := iss.(string)
		switch {
		case !present && c.IssuerIfPresent:
		case !present:
			errs = append(errs, fmt.Errorf("%w: token has no iss", ErrIssuer))
		case !isString:
			errs = append(errs, fmt.Errorf("%w: iss is not a string", ErrIssuer))
		case s != c.Issuer:
			errs = append(errs, fmt.Errorf("%w: iss %s", ErrIssuer, Quote(s)))
		}
	}

	if len(c.Audience) > 0 {
		aud, err := Strings(claims, "aud")
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %v", ErrAudience, err))
		case len(aud) == 0:
			errs = append(errs, fmt.Errorf("%w: token has no aud", ErrAudience))
		case !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(c.Audience, a) }):
			errs = append(errs, fmt.Errorf("%w: aud %s", ErrAudience, Quote(strings.Join(aud, " "))))
		}
	}

	if len(c.Scopes) > 0 {
		have := Scopes(claims)
		for _, s := range c.Scopes {
			if !slices.Contains(have, s) {
				errs = append(errs, fmt.Errorf("%w: %s", ErrScope, Quote(s)))
			}
		}
	}
	return errors.Join(errs...)
}

// numericDate reads a NumericDate claim (RFC 7519 section 2): a JSON number
// of seconds, possibly fractional.
func numericDate(claims map[string]any, name string) (float64, bool, error) {
	v, ok := claims[name]
	if !ok {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum {
		return 0, false, fmt.Errorf("%w: %s is not a number", ErrClaimType, name)
	}
	if math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return 0, false, fmt.Errorf("%w: %s", errNumericRange, name)
	}
	return f, true, nil
}

func unix(s float64) string {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339)
}

// Strings reads a claim that is a string or a list of strings (aud, and
// group claims). A missing claim is an empty list.
func Strings(claims map[string]any, name string) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		if _, ok := claims[name]; ok {
			return nil, fmt.Errorf("%w: %s is null", ErrClaimType, name)
		}
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s has a member that is not a string", ErrClaimType, name)
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return v, nil
	}
	return nil, fmt.Errorf("%w: %s is not a string or a list of strings", ErrClaimType, name)
}

// Scopes returns the scopes a token grants: the space-separated scope claim
// and the scp claim (a list, or a space-separated string).
func Scopes(claims map[string]any) []string {
	var out []string
	for _, name := range [...]string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			out = append(out, strings.Fields(v)...)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Claim returns the value of the claim name. When claims has no key name and
// name contains dots, it is followed as a path into nested objects
// ("realm_access.roles"), for providers that nest their claims.
func Claim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, strings.Contains(name, ".")
}
