// Package oidc signs people in to Keyplane through an OpenID Connect
// provider: the authorization code flow with PKCE (S256), state and nonce,
// the provider's discovery document and its key set (coreos/go-oidc and
// x/oauth2), and the rules that tie the provider's identities to
// Keyplane's users (Linker).
//
// A Client does no network I/O until the first sign-in, so Keyplane starts
// while the provider is down; every request to the provider goes through
// one *http.Client with timeouts, and Begin and Finish give up after their
// deadlines with an Unavailable error instead of hanging.
package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"keyplane/internal/store"
)

// Defaults of Options.
const (
	DefaultDiscoveryTimeout = 5 * time.Second
	DefaultExchangeTimeout  = 10 * time.Second
	// FlowTTL is how long a sign-in may take between Begin and Finish: the
	// life of the flow cookie and of a remembered state.
	FlowTTL = 10 * time.Minute
	// ClockSkew is how far the provider's clock may be from Keyplane's:
	// an ID token is taken until ClockSkew past its expiry, and refused
	// when issued more than ClockSkew in the future.
	ClockSkew = time.Minute
	// maxResponse caps what is read of any answer of the provider.
	maxResponse = 1 << 20
)

// Options configure a Client. Issuer, ClientID, ClientSecret, RedirectURL,
// CookieSecret and DB are required.
type Options struct {
	// Issuer is the provider's issuer URL, exactly as in its tokens.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the absolute URL of Keyplane's callback route, as
	// registered at the provider. The flow cookie is Secure (and named
	// with the __Host- prefix) when it is https.
	RedirectURL string
	// Name is the provider's name as people see it ("Sign in with
	// {Name}"); default "SSO".
	Name string
	// CookieSecret seals the flow cookie (at least 32 bytes; the session
	// secret will do: the cookie's keys are derived from it for this use
	// alone).
	CookieSecret []byte
	// DB remembers the states of finished sign-ins, so that a replayed
	// callback is refused on every server that shares it.
	DB *store.DB
	// HTTPClient carries every request to the provider; default
	// NewHTTPClient().
	HTTPClient *http.Client
	// DiscoveryTimeout bounds fetching the discovery document (Begin, and
	// Finish when no Begin ran on this server yet); default 5s.
	DiscoveryTimeout time.Duration
	// ExchangeTimeout bounds Finish's requests to the provider: the token
	// exchange and, when the token is signed with a key not seen yet, the
	// key set; default 10s.
	ExchangeTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Client runs the sign-in flow against one provider. It is safe for
// concurrent use; make one per process with New.
type Client struct {
	issuer       string
	clientID     string
	clientSecret string
	redirectURL  string
	name         string
	http         *http.Client
	discoveryTO  time.Duration
	exchangeTO   time.Duration
	now          func() time.Time
	states       *stateStore
	codec        *securecookie.SecureCookie
	cookieName   string
	secure       bool

	mu        sync.Mutex
	discovery *discovery // the one in flight, or the one that succeeded
}

// discovery is one attempt at the provider's discovery document; done is
// closed when it ends, with p or err set.
type discovery struct {
	done chan struct{}
	p    *provider
	err  error
}

// provider is what discovery found: the endpoints and the verifier with
// its cached key set.
type provider struct {
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

// New returns a Client for o. It checks o but does no network I/O: the
// provider is discovered at the first Begin or Finish, and again after a
// failed attempt.
func New(o Options) (*Client, error) {
	switch {
	case o.Issuer == "" || o.ClientID == "" || o.ClientSecret == "":
		return nil, errors.New("oidc: issuer, client id and client secret are required")
	case len(o.CookieSecret) < 32:
		return nil, errors.New("oidc: the cookie secret needs at least 32 bytes")
	case o.DB == nil:
		return nil, errors.New("oidc: a database is required to refuse replayed sign-ins")
	}
	ru, err := url.Parse(o.RedirectURL)
	if err != nil || (ru.Scheme != "https" && ru.Scheme != "http") || ru.Host == "" {
		return nil, fmt.Errorf("oidc: redirect URL %q is not an absolute http(s) URL", o.RedirectURL)
	}
	c := &Client{
		issuer: o.Issuer, clientID: o.ClientID, clientSecret: o.ClientSecret, redirectURL: o.RedirectURL,
		name: o.Name, http: o.HTTPClient, discoveryTO: o.DiscoveryTimeout, exchangeTO: o.ExchangeTimeout,
		now: o.Now, states: &stateStore{db: o.DB}, secure: ru.Scheme == "https",
	}
	if c.name == "" {
		c.name = "SSO"
	}
	if c.http == nil {
		c.http = NewHTTPClient()
	}
	if c.discoveryTO <= 0 {
		c.discoveryTO = DefaultDiscoveryTimeout
	}
	if c.exchangeTO <= 0 {
		c.exchangeTO = DefaultExchangeTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	hashKey := sha256.Sum256(append([]byte("keyplane sso cookie hash\x00"), o.CookieSecret...))
	blockKey := sha256.Sum256(append([]byte("keyplane sso cookie block\x00"), o.CookieSecret...))
	c.codec = securecookie.New(hashKey[:], blockKey[:])
	c.codec.MaxAge(int(FlowTTL.Seconds()))
	c.codec.SetSerializer(securecookie.JSONEncoder{})
	c.cookieName = "kp_sso"
	if c.secure {
		c.cookieName = "__Host-kp_sso"
	}
	return c, nil
}

// Name is the provider's name as people see it.
func (c *Client) Name() string { return c.name }

// NewHTTPClient returns the client Keyplane talks to a provider with: a
// connection within 5 seconds, an answer's headers within 10, the whole
// request within 15, at most 1 MiB read of any answer, and no proxy from
// the environment unless HTTPS_PROXY or HTTP_PROXY name one.
func NewHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          10,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: limitedTransport{t}}
}

// limitedTransport cuts every response body at maxResponse bytes.
type limitedTransport struct{ rt http.RoundTripper }

func (l limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = limitedBody{io.LimitReader(resp.Body, maxResponse), resp.Body}
	}
	return resp, err
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// withHTTP returns ctx carrying the Client's *http.Client for go-oidc and
// x/oauth2.
func (c *Client) withHTTP(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, c.http)
}

// provider returns the discovered provider, discovering it when no
// attempt succeeded yet. Concurrent callers share one attempt; each waits
// at most until ctx ends or the attempt's own deadline passes. A caller
// that joined an attempt begun before it, which then fails, starts one
// attempt of its own: the earlier one may have begun while the provider
// was still away.
func (c *Client) provider(ctx context.Context) (*provider, error) {
	for first := true; ; first = false {
		d, started := c.attempt()
		select {
		case <-d.done:
			if d.err == nil {
				return d.p, nil
			}
			if !started && first && ctx.Err() == nil {
				continue
			}
			return nil, c.unavailable(d.err)
		case <-ctx.Done():
			return nil, c.unavailable(fmt.Errorf("discovery: %w", ctx.Err()))
		}
	}
}

// attempt returns the discovery in flight or the one that succeeded, or
// starts one (started is then true).
func (c *Client) attempt() (d *discovery, started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d = c.discovery
	if d != nil {
		select {
		case <-d.done:
			if d.err != nil { // the last attempt failed: try again
				d = nil
			}
		default:
		}
	}
	if d == nil {
		d = &discovery{done: make(chan struct{})}
		c.discovery = d
		go c.discover(d)
		return d, true
	}
	return d, false
}

// discover fetches the discovery document within the discovery timeout.
// Its context is its own, not a caller's: a caller that gives up leaves the
// attempt to the others waiting for it.
func (c *Client) discover(d *discovery) {
	defer close(d.done)
	ctx, cancel := context.WithTimeout(c.withHTTP(context.Background()), c.discoveryTO)
	defer cancel()
	p, err := gooidc.NewProvider(ctx, c.issuer)
	if err != nil {
		var mismatch *gooidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			d.err = fmt.Errorf("discovery: the provider calls itself %q, not %q as configured", mismatch.Discovered, mismatch.Provided)
		} else {
			d.err = fmt.Errorf("discovery: %w", err)
		}
		return
	}
	// The key set's requests use the configured client; their context is
	// for configuration only (go-oidc ignores its cancellation), so the
	// client's timeout and Finish's deadline bound them.
	verifier := p.VerifierContext(c.withHTTP(context.Background()), &gooidc.Config{
		ClientID: c.clientID,
		// Expiry, iat and nbf are checked by checkTimes, with ClockSkew.
		SkipExpiryCheck: true,
		Now:             c.now,
	})
	d.p = &provider{
		oauth: oauth2.Config{
			ClientID: c.clientID, ClientSecret: c.clientSecret, Endpoint: p.Endpoint(),
			RedirectURL: c.redirectURL, Scopes: []string{gooidc.ScopeOpenID, "email", "profile"},
		},
		verifier: verifier,
	}
}

// sameSitePath reports whether p is a path on this site to return to after
// signing in: it starts with one slash (not "//" or "/\", which browsers
// read as another host), has no scheme, no control characters and no
// backslash, and is at most 1024 bytes.
func sameSitePath(p string) bool {
	if p == "" || len(p) > 1024 || p[0] != '/' {
		return false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	if strings.ContainsAny(p, "\\") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
