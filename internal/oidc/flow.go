package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"keyplane/internal/apperr"
)

// Start is where Begin sends the person: the provider's authorization URL,
// and the cookie to set on the same response.
type Start struct {
	URL    string
	Cookie *http.Cookie
}

// Identity is who the provider says signed in, from a verified ID token.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string // as the provider wrote it, trimmed; may be ""
	EmailVerified bool
	Name          string // "name", else "preferred_username"; may be ""
}

// Callback is what Finish returns for a sign-in it accepted.
type Callback struct {
	Identity Identity
	// ReturnTo is the same-site path given to Begin, or "/".
	ReturnTo string
}

// flow is the content of the flow cookie, sealed (encrypted and
// authenticated) with the Client's keys.
type flow struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	ReturnTo string `json:"r"`
	Created  int64  `json:"t"` // unix seconds
}

// CookieName is the name of the flow cookie: "__Host-kp_sso" when the
// redirect URL is https, else "kp_sso".
func (c *Client) CookieName() string { return c.cookieName }

// ClearCookie returns the cookie that deletes the flow cookie; the callback
// sets it whatever Finish returned.
func (c *Client) ClearCookie() *http.Cookie {
	return &http.Cookie{Name: c.cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}

// Begin starts a sign-in: it discovers the provider if needed (within the
// discovery timeout), makes a random state, nonce and PKCE verifier, and
// returns the authorization URL with the cookie that binds them to this
// browser for FlowTTL (HttpOnly, SameSite=Lax, Path=/, Secure with an https
// redirect URL). returnTo is where to go once signed in; anything but a
// same-site path ("/orgs/acme/keys") becomes "/". Returns Unavailable when
// the provider cannot be discovered.
func (c *Client) Begin(ctx context.Context, returnTo string) (Start, error) {
	ctx, cancel := context.WithTimeout(ctx, c.discoveryTO)
	defer cancel()
	p, err := c.provider(ctx)
	if err != nil {
		return Start{}, err
	}
	if !sameSitePath(returnTo) {
		returnTo = "/"
	}
	f := flow{State: randomToken(), Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(), ReturnTo: returnTo, Created: c.now().Unix()}
	value, err := c.codec.Encode(c.cookieName, f)
	if err != nil {
		return Start{}, fmt.Errorf("oidc: seal flow cookie: %w", err)
	}
	return Start{
		URL: p.oauth.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), gooidc.Nonce(f.Nonce)),
		Cookie: &http.Cookie{
			Name: c.cookieName, Value: value, Path: "/", MaxAge: int(FlowTTL.Seconds()),
			HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
		},
	}, nil
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Finish completes a sign-in from the provider's callback: cookieValue is
// the flow cookie's value ("" when absent), query the callback's query.
// It checks the state against the cookie, remembers it as used (a second
// Finish with it is refused, on any server sharing the database), exchanges
// the code with the PKCE verifier and verifies the ID token: signature
// against the provider's key set, issuer, audience (the client id; azp
// when there are several), expiry and issue time within ClockSkew, and the
// nonce. Its requests to the provider end within the exchange timeout.
//
// Refusals are *apperr.Error values whose cause is an *Error (ReasonOf):
// Forbidden for a refused sign-in, Unavailable when the provider cannot be
// reached or fails. Their messages are for the person; their causes never
// hold the code, tokens, state, nonce or verifier.
func (c *Client) Finish(ctx context.Context, cookieValue string, query url.Values) (Callback, error) {
	if e := query.Get("error"); e != "" {
		return Callback{}, refuse(ReasonProviderError, fmt.Errorf("the provider answered error %s", logSafe(e)),
			c.startAgain(fmt.Sprintf("%s did not sign you in.", c.name)))
	}
	if cookieValue == "" {
		return Callback{}, refuse(ReasonNoCookie, nil,
			c.startAgain("This sign-in was started in another browser, or took too long."))
	}
	var f flow
	if err := c.codec.Decode(c.cookieName, cookieValue, &f); err != nil {
		return Callback{}, refuse(ReasonBadCookie, errors.New("the flow cookie does not open (expired, altered or sealed with another key)"),
			c.startAgain("This sign-in took too long or is not valid."))
	}
	started := time.Unix(f.Created, 0)
	if c.now().Sub(started) > FlowTTL {
		return Callback{}, refuse(ReasonBadCookie, fmt.Errorf("the flow started at %s, more than %s ago", started.UTC().Format(time.RFC3339), FlowTTL),
			c.startAgain("This sign-in took too long."))
	}
	state := query.Get("state")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return Callback{}, refuse(ReasonStateMismatch, errors.New("the callback's state is not the flow cookie's"),
			c.startAgain("This sign-in does not match the one this browser started."))
	}
	code := query.Get("code")
	if code == "" {
		return Callback{}, refuse(ReasonNoCode, nil, c.startAgain(fmt.Sprintf("%s sent no sign-in code.", c.name)))
	}

	ctx, cancel := context.WithTimeout(ctx, c.exchangeTO)
	defer cancel()
	p, err := c.provider(ctx)
	if err != nil {
		return Callback{}, err
	}
	// The state is spent before the code goes anywhere: a replayed callback
	// never reaches the provider, which might redeem a code twice.
	fresh, err := c.states.consume(ctx, f.State, started.Add(FlowTTL+ClockSkew), c.now())
	if err != nil {
		return Callback{}, err
	}
	if !fresh {
		return Callback{}, refuse(ReasonReplayed, errors.New("the state was used by an earlier callback"),
			c.startAgain("This sign-in link was used already."))
	}

	tok, err := p.oauth.Exchange(c.withHTTP(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Callback{}, c.exchangeError(ctx, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Callback{}, refuse(ReasonNoIDToken, errors.New("the token response has no id_token"),
			c.startAgain(fmt.Sprintf("%s did not say who you are.", c.name)))
	}
	idt, err := p.verifier.Verify(c.withHTTP(ctx), raw)
	if err != nil {
		if ctx.Err() != nil || strings.Contains(err.Error(), "fetching keys") {
			return Callback{}, c.unavailable(fmt.Errorf("key set: %w", err))
		}
		return Callback{}, c.badToken(ReasonBadToken, err)
	}
	var cl claims
	if err := idt.Claims(&cl); err != nil {
		return Callback{}, c.badToken(ReasonBadToken, fmt.Errorf("claims: %w", err))
	}
	if err := c.checkToken(idt, cl, f.Nonce); err != nil {
		return Callback{}, err
	}
	return Callback{Identity: cl.identity(idt), ReturnTo: returnPath(f.ReturnTo)}, nil
}

func returnPath(p string) string {
	if sameSitePath(p) {
		return p
	}
	return "/"
}

// exchangeError classifies a failed token exchange: a refusal by the
// provider (4xx: the code is used, expired or for another verifier) or an
// outage (5xx, timeouts, connection errors). Only the provider's error
// code goes to the log, never its description, which may echo the code.
func (c *Client) exchangeError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return refuse(ReasonExchangeRefused,
			fmt.Errorf("the token endpoint answered %d %s", re.Response.StatusCode, logSafe(re.ErrorCode)),
			c.startAgain(fmt.Sprintf("%s did not accept this sign-in.", c.name)))
	}
	if errors.As(err, &re) && re.Response != nil {
		return c.unavailable(fmt.Errorf("token endpoint answered %d %s", re.Response.StatusCode, logSafe(re.ErrorCode)))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return c.unavailable(fmt.Errorf("token endpoint: %s: %w", ue.Op, ue.Err))
	}
	if ctx.Err() != nil {
		return c.unavailable(fmt.Errorf("token endpoint: %w", ctx.Err()))
	}
	// x/oauth2's other errors (a malformed answer) may quote the body.
	return c.unavailable(errors.New("token endpoint: malformed answer"))
}

func (c *Client) badToken(reason Reason, cause error) error {
	return refuse(reason, cause, c.startAgain(fmt.Sprintf("The answer of %s could not be trusted.", c.name)))
}

// claims are the ID token's fields Keyplane reads beyond go-oidc's.
type claims struct {
	Email             string          `json:"email"`
	EmailVerified     json.RawMessage `json:"email_verified"`
	Name              string          `json:"name"`
	PreferredUsername string          `json:"preferred_username"`
	NotBefore         *float64        `json:"nbf"`
	AuthorizedParty   string          `json:"azp"`
}

// verified reads email_verified, a boolean, or a string "true" as some
// providers send it.
func (cl claims) verified() bool {
	var b bool
	if json.Unmarshal(cl.EmailVerified, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(cl.EmailVerified, &s) == nil && strings.EqualFold(s, "true")
}

func (cl claims) identity(idt *gooidc.IDToken) Identity {
	name := strings.TrimSpace(cl.Name)
	if name == "" {
		name = strings.TrimSpace(cl.PreferredUsername)
	}
	return Identity{
		Issuer: idt.Issuer, Subject: idt.Subject, Email: strings.TrimSpace(cl.Email),
		EmailVerified: cl.verified(), Name: name,
	}
}

// checkToken checks what go-oidc leaves to its caller: the times with
// ClockSkew, the nonce, the subject and, with several audiences, azp.
func (c *Client) checkToken(idt *gooidc.IDToken, cl claims, nonce string) error {
	now := c.now()
	switch {
	case idt.Expiry.IsZero():
		return c.badToken(ReasonBadToken, errors.New("the ID token has no exp"))
	case now.Sub(idt.Expiry) > ClockSkew:
		return c.badToken(ReasonTokenExpired, fmt.Errorf("the ID token expired at %s, %s ago", idt.Expiry.UTC().Format(time.RFC3339), now.Sub(idt.Expiry).Round(time.Second)))
	case idt.IssuedAt.IsZero():
		return c.badToken(ReasonBadToken, errors.New("the ID token has no iat"))
	case idt.IssuedAt.Sub(now) > ClockSkew:
		return c.badToken(ReasonClockSkew, fmt.Errorf("the ID token was issued %s in the future (allowed: %s)", idt.IssuedAt.Sub(now).Round(time.Second), ClockSkew))
	}
	if cl.NotBefore != nil {
		nbf := time.Unix(int64(*cl.NotBefore), 0)
		if nbf.Sub(now) > ClockSkew {
			return c.badToken(ReasonClockSkew, fmt.Errorf("the ID token is valid only from %s in the future (allowed: %s)", nbf.Sub(now).Round(time.Second), ClockSkew))
		}
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return c.badToken(ReasonNonce, errors.New("the ID token's nonce is missing or not the flow's"))
	}
	if idt.Subject == "" || len(idt.Subject) > 255 || !utf8.ValidString(idt.Subject) || strings.ContainsRune(idt.Subject, 0) {
		return c.badToken(ReasonBadToken, errors.New("the ID token's sub is empty, too long or not text"))
	}
	if len(idt.Audience) > 1 && cl.AuthorizedParty != c.clientID {
		return c.badToken(ReasonBadToken, fmt.Errorf("the ID token has several audiences and azp %s", logSafe(cl.AuthorizedParty)))
	}
	return nil
}

// IsRefusal reports whether err is a sign-in refused by Begin, Finish or
// Linker.SignIn (as opposed to an internal failure, such as the database).
func IsRefusal(err error) bool {
	return ReasonOf(err) != "" && apperr.CodeOf(err) != apperr.Internal
}
