package oidc

import (
	"errors"
	"fmt"
	"strings"

	"keyplane/internal/apperr"
)

// Reason says why a sign-in was refused. Reasons are stable: tests, logs
// and metrics can rely on them.
type Reason string

// The reasons of Client.Begin and Client.Finish.
const (
	// ReasonUnavailable: the provider did not answer in time, or answered
	// discovery, the token exchange or the key set with an error.
	ReasonUnavailable Reason = "provider_unavailable"
	// ReasonProviderError: the provider sent the person back with an
	// error (they cancelled, or were not allowed to use Keyplane).
	ReasonProviderError Reason = "provider_error"
	// ReasonNoCookie: the callback came without the flow cookie (another
	// browser, cookies blocked, or it expired and the browser dropped it).
	ReasonNoCookie Reason = "no_cookie"
	// ReasonBadCookie: the flow cookie is expired, altered or was sealed
	// with another key.
	ReasonBadCookie Reason = "bad_cookie"
	// ReasonStateMismatch: the state in the callback is not the cookie's.
	ReasonStateMismatch Reason = "state_mismatch"
	// ReasonReplayed: this state was used by a finished callback already.
	ReasonReplayed Reason = "state_replayed"
	// ReasonNoCode: the callback carries no authorization code.
	ReasonNoCode Reason = "no_code"
	// ReasonExchangeRefused: the token endpoint refused the code (used,
	// expired, or issued for another PKCE verifier).
	ReasonExchangeRefused Reason = "exchange_refused"
	// ReasonNoIDToken: the token response has no ID token.
	ReasonNoIDToken Reason = "no_id_token"
	// ReasonBadToken: the ID token is malformed, its signature does not
	// verify against the provider's keys, or its issuer, audience or
	// subject is wrong.
	ReasonBadToken Reason = "bad_token"
	// ReasonTokenExpired: the ID token expired more than the allowed clock
	// skew ago.
	ReasonTokenExpired Reason = "token_expired"
	// ReasonClockSkew: the ID token was issued, or becomes valid, further
	// in the future than the allowed clock skew.
	ReasonClockSkew Reason = "clock_skew"
	// ReasonNonce: the ID token has no nonce, or not the cookie's.
	ReasonNonce Reason = "nonce_mismatch"
)

// The reasons of Linker.SignIn.
const (
	// ReasonEmailUnverified: a first sign-in whose email the provider does
	// not say is verified.
	ReasonEmailUnverified Reason = "email_unverified"
	// ReasonUnknownEmail: a first sign-in whose email has no account, no
	// pending invitation and no auto-join.
	ReasonUnknownEmail Reason = "unknown_email"
	// ReasonOperator: a first sign-in whose email is an operator's;
	// operators are never linked by email.
	ReasonOperator Reason = "operator_not_linked"
	// ReasonDisabled: the account is disabled.
	ReasonDisabled Reason = "user_disabled"
	// ReasonLinkedElsewhere: the account is linked to another identity at
	// this provider already.
	ReasonLinkedElsewhere Reason = "linked_elsewhere"
	// ReasonAutoJoin: auto-join applies but its organization is missing.
	ReasonAutoJoin Reason = "auto_join_failed"
)

// Error is the cause of a refused sign-in: a Reason and what went wrong,
// fit for logs. It never holds a code, a token, a state, a nonce or a
// verifier. Refusals reach the caller as an *apperr.Error (Forbidden,
// Unavailable, ...) whose Message is for the person and whose cause is an
// *Error: use ReasonOf to read it.
type Error struct {
	Reason Reason
	Cause  error // may be nil
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return "oidc: " + string(e.Reason)
	}
	return "oidc: " + string(e.Reason) + ": " + e.Cause.Error()
}

func (e *Error) Unwrap() error { return e.Cause }

// ReasonOf returns the Reason of the first *Error in err's chain, or "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// refuse returns a Forbidden refusal: message for the person, reason and
// cause for the log.
func refuse(reason Reason, cause error, message string) error {
	return apperr.Wrap(apperr.Forbidden, &Error{Reason: reason, Cause: cause}, message)
}

// unavailable returns the refusal of a sign-in the provider could not
// complete: 503 for the person, who may try again later.
func (c *Client) unavailable(cause error) error {
	return apperr.Wrap(apperr.Unavailable, &Error{Reason: ReasonUnavailable, Cause: cause},
		fmt.Sprintf("Signing in with %s is not possible right now: it does not answer. Try again in a few minutes.", c.name))
}

// startAgain is the message of every refusal the person can get past by
// starting over from the login page.
func (c *Client) startAgain(what string) string {
	return what + " Go back to the login page and choose \"Sign in with " + c.name + "\" again."
}

// logSafe returns s as a short quoted string for a log line: at most 64
// bytes of printable ASCII, the rest dropped. It is for values a provider
// or a browser sends, such as an error code.
func logSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			b.WriteString("...")
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return fmt.Sprintf("%q", b.String())
}
