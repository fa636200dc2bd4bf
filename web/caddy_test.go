package web

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store/storetest"
	"keyplane/internal/verify"
)

// readmeCaddyfile returns the Caddy configuration README.md documents: the
// ```caddy block after the **Caddy** paragraph of "In front of an API".
// The test runs that text, so the README cannot drift from what is tested.
func readmeCaddyfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	readme := string(b)
	_, section, ok := strings.Cut(readme, "\n### In front of an API\n")
	if !ok {
		t.Fatal(`README.md has no "### In front of an API" section`)
	}
	_, caddy, ok := strings.Cut(section, "\n**Caddy**")
	if !ok {
		t.Fatal(`README.md's "In front of an API" has no **Caddy** paragraph`)
	}
	_, block, ok := strings.Cut(caddy, "\n```caddy\n")
	if !ok {
		t.Fatal("README.md's **Caddy** paragraph is not followed by a ```caddy block")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("README.md's ```caddy block is not closed")
	}
	return block + "\n"
}

// caddyPath finds the caddy binary; the test fails without it.
func caddyPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/caddy"); err == nil {
		return "/usr/bin/caddy"
	}
	t.Fatal("caddy not found: apt-get install -y caddy")
	return ""
}

// startCaddy runs the README's Caddy configuration in front of keyplane
// and app (host:port each) and returns its base URL. Only the three
// addresses are swapped; the global options turn off the admin endpoint
// and automatic HTTPS, and every file Caddy writes stays in a temporary
// directory.
func startCaddy(t *testing.T, keyplane, app string) string {
	t.Helper()
	bin := caddyPath(t)
	dir := t.TempDir()
	listen := "127.0.0.1:" + freePort(t)
	site := readmeCaddyfile(t)
	for _, swap := range [][2]string{
		{"api.example.com {", "http://" + listen + " {"},
		{"keyplane:8080", keyplane},
		{"api-upstream:9000", app},
	} {
		if n := strings.Count(site, swap[0]); n != 1 {
			t.Fatalf("README.md's Caddy block names %q %d times, want once: the test swaps it for its own address", swap[0], n)
		}
		site = strings.Replace(site, swap[0], swap[1], 1)
	}
	conf := "{\n\tadmin off\n\tauto_https off\n}\n\n" + site
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start caddy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("caddy output:\n%s", out.String())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("caddy exited: %v\n%s\nconfig:\n%s", err, out.String(), conf)
		default:
		}
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %s: %v\n%s", listen, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exchange is one request as a server received it and, for Keyplane, the
// answer it gave.
type exchange struct {
	method, uri string
	header      http.Header // of the request
	body        []byte      // of the request
	status      int
	answer      http.Header
	answerBody  []byte
}

// exchanges records what a server saw, in order.
type exchanges struct {
	mu  sync.Mutex
	all []exchange
}

func (x *exchanges) add(e exchange) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.all = append(x.all, e)
}

func (x *exchanges) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.all)
}

// last returns the latest exchange, or fails when there is none.
func (x *exchanges) last(t *testing.T) exchange {
	t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.all) == 0 {
		t.Fatal("no request recorded")
	}
	return x.all[len(x.all)-1]
}

// recording serves h and records each request with h's answer.
func recording(h http.Handler, x *exchanges) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		x.add(exchange{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: body,
			status: res.StatusCode, answer: res.Header.Clone(), answerBody: rec.Body.Bytes()})
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// keyplaneHeaders returns the X-Keyplane-* fields of h, in canonical form.
func keyplaneHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Keyplane-") {
			out[http.CanonicalHeaderKey(k)] = append(out[http.CanonicalHeaderKey(k)], v...)
		}
	}
	return out
}

// TestCaddyForwardAuth puts a real Caddy, configured as README.md says,
// between a client and an upstream, with Keyplane answering the auth
// requests.
func TestCaddyForwardAuth(t *testing.T) {
	db := storetest.SQLite(t)
	flaky := &flakyStore{Store: verify.DBStore{DB: db}}
	e := newEnv(t, db, map[string]string{
		"KEYPLANE_SCOPES":          "sms:send=Send SMS",
		"KEYPLANE_ROUTE_SCOPES":    "POST /v1/sms*=sms:send",
		"KEYPLANE_TRUSTED_PROXIES": "127.0.0.1/32", // caddy
	}, func(deps *Deps) {
		deps.Verifier = verify.New(verify.Options{Store: flaky, Prefix: deps.Config.KeyPrefix, Now: deps.Now, Logger: deps.Logger})
	})
	alice := e.user("alice@example.com", "Alice", false)
	acme := e.org("Acme", "acme", alice.ID)
	ctx := context.Background()
	create := func(in apikey.Input) apikey.Created {
		t.Helper()
		if in.Kind == "" {
			in.Kind = "private"
		}
		in.Environment = "live"
		in.Description = "caddy test"
		c, err := e.keys.Create(ctx, acme.ID, "", in, audit.Actor{})
		if err != nil {
			t.Fatalf("create key: %v", err)
		}
		return c
	}
	sender := create(apikey.Input{Scopes: []string{"sms:send"}})
	plain := create(apikey.Input{})
	revoked := create(apikey.Input{})
	if _, err := e.keys.Revoke(ctx, acme.ID, revoked.Key.ID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	public := create(apikey.Input{Kind: "public", Domains: "example.com"})
	unused := create(apikey.Input{}) // never verified before the database goes away

	var auth, seen exchanges
	kp := httptest.NewServer(recording(e.srv, &auth))
	t.Cleanup(kp.Close)
	app := httptest.NewServer(recording(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App", "upstream")
		w.WriteHeader(http.StatusOK)
	}), &seen))
	t.Cleanup(app.Close)
	base := startCaddy(t, kp.Listener.Addr().String(), app.Listener.Addr().String())

	hc := &http.Client{Timeout: 10 * time.Second}
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	call := func(method, path, body string, hdr map[string]string) reply {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = []string{v} // sent as written: a lower-case name stays lower-case
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{res.StatusCode, res.Header, b}
	}
	// with returns hdr plus a forged identity: each of the five headers
	// (one in lower case) and one Keyplane never sends.
	with := func(hdr map[string]string) map[string]string {
		out := map[string]string{
			"X-Keyplane-Key-Id": "forged", "x-keyplane-org-id": "forged", "X-Keyplane-Org": "evil",
			"X-Keyplane-Environment": "test", "X-Keyplane-Scopes": "admin", "X-Keyplane-Foo": "bar",
		}
		for k, v := range hdr {
			out[k] = v
		}
		return out
	}
	// passed asserts that the last request reached the upstream as sent,
	// with exactly the X-Keyplane-* headers want (and none when want is
	// nil), which must be Keyplane's answer too.
	passed := func(name string, r reply, method, path, body string, want map[string]string) {
		t.Helper()
		if r.status != http.StatusOK || r.header.Get("X-App") != "upstream" {
			t.Fatalf("%s: status %d, X-App %q: not the upstream's answer; body %s", name, r.status, r.header.Get("X-App"), r.body)
		}
		got := seen.last(t)
		if got.method != method || got.uri != path || string(got.body) != body {
			t.Errorf("%s: upstream saw %s %s with body %q, want %s %s with %q", name, got.method, got.uri, got.body, method, path, body)
		}
		answer := auth.last(t)
		if answer.status != http.StatusOK {
			t.Fatalf("%s: Keyplane answered %d", name, answer.status)
		}
		if fm, fu := answer.header.Get("X-Forwarded-Method"), answer.header.Get("X-Forwarded-Uri"); fm != method || fu != path {
			t.Errorf("%s: Keyplane was asked about %s %s, want %s %s", name, fm, fu, method, path)
		}
		wantHdr := http.Header{}
		for k, v := range want {
			wantHdr[k] = []string{v}
		}
		if kh := keyplaneHeaders(answer.answer); !equalHeaders(kh, wantHdr) {
			t.Errorf("%s: Keyplane answered with %v, want %v", name, kh, wantHdr)
		}
		if kh := keyplaneHeaders(got.header); !equalHeaders(kh, wantHdr) {
			t.Errorf("%s: upstream saw X-Keyplane-* %v, want exactly %v", name, kh, wantHdr)
		}
	}
	// refused asserts that the client got Keyplane's answer (status,
	// headers and body) and that nothing reached the upstream.
	refused := func(name string, r reply, status int, code string) {
		t.Helper()
		answer := auth.last(t)
		if r.status != status || answer.status != status {
			t.Fatalf("%s: client got %d, Keyplane answered %d, want %d; body %s", name, r.status, answer.status, status, r.body)
		}
		if !bytes.Equal(r.body, answer.answerBody) {
			t.Errorf("%s: client got body %s, Keyplane answered %s", name, r.body, answer.answerBody)
		}
		if !strings.Contains(string(r.body), `"code":"`+code+`"`) {
			t.Errorf("%s: body %s, want code %q", name, r.body, code)
		}
		// Every header of the answer (X-Keyplane-Error, Retry-After,
		// RateLimit, ...) reaches the client unchanged.
		for k, v := range answer.answer {
			if k == "Date" {
				continue
			}
			if got := r.header.Values(k); !slices.Equal(got, v) {
				t.Errorf("%s: client got %s %q, Keyplane answered %q", name, k, got, v)
			}
		}
		if kh := keyplaneHeaders(r.header); !equalHeaders(kh, keyplaneHeaders(answer.answer)) {
			t.Errorf("%s: client got X-Keyplane-* %v, Keyplane answered %v", name, kh, keyplaneHeaders(answer.answer))
		}
	}
	identity := func(c apikey.Created, scopes string) map[string]string {
		return map[string]string{
			"X-Keyplane-Key-Id": c.Key.ID, "X-Keyplane-Org-Id": acme.ID, "X-Keyplane-Org": "acme",
			"X-Keyplane-Environment": "live", "X-Keyplane-Scopes": scopes,
		}
	}

	// Allowed: the upstream gets the request as sent (the body too: Keyplane
	// is asked with GET and no body) and exactly the identity Keyplane
	// computed, never the client's.
	r := call(http.MethodGet, "/v1/sms?to=1", "", with(map[string]string{"X-Api-Key": sender.Secret}))
	passed("X-Api-Key", r, http.MethodGet, "/v1/sms?to=1", "", identity(sender, "sms:send"))
	r = call(http.MethodPost, "/v1/sms", `{"to":"1"}`, with(map[string]string{"Authorization": "Bearer " + sender.Secret}))
	passed("Bearer, POST", r, http.MethodPost, "/v1/sms", `{"to":"1"}`, identity(sender, "sms:send"))
	// A key with no scopes: X-Keyplane-Scopes arrives, empty.
	r = call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": plain.Secret}))
	passed("no scopes", r, http.MethodGet, "/v1/sms", "", identity(plain, ""))
	if got := seen.last(t).header.Values("X-Keyplane-Scopes"); len(got) != 1 || got[0] != "" {
		t.Errorf("no scopes: upstream saw X-Keyplane-Scopes %q, want one empty value", got)
	}

	// A CORS preflight without a key reaches the upstream with no identity
	// at all; one with a key is verified like any other request.
	preflight := map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
	r = call(http.MethodOptions, "/v1/sms", "", with(preflight))
	passed("preflight", r, http.MethodOptions, "/v1/sms", "", nil)
	r = call(http.MethodOptions, "/v1/sms", "", with(map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST", "X-Api-Key": sender.Secret}))
	passed("OPTIONS with a key", r, http.MethodOptions, "/v1/sms", "", identity(sender, "sms:send"))
	hits := seen.count()
	r = call(http.MethodOptions, "/v1/sms", "", with(map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST", "X-Api-Key": revoked.Secret}))
	refused("OPTIONS with a revoked key", r, 401, "key_revoked")

	// Refusals come back as Keyplane wrote them and never reach the upstream.
	refused("missing key", call(http.MethodGet, "/v1/sms", "", with(nil)), 401, "unauthorized")
	refused("bad key", call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": "kp_live_not-a-key"})), 401, "unauthorized")
	refused("two keys", call(http.MethodGet, "/v1/sms", "", map[string]string{"X-Api-Key": sender.Secret, "Authorization": "Bearer " + plain.Secret}), 401, "unauthorized")
	refused("revoked key", call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": revoked.Secret})), 401, "key_revoked")
	refused("missing scope", call(http.MethodPost, "/v1/sms", `{"to":"1"}`, with(map[string]string{"X-Api-Key": plain.Secret})), 403, "forbidden")
	refused("public key, foreign origin", call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": public.Secret, "Origin": "https://evil.net"})), 403, "domain_not_allowed")
	if n := seen.count(); n != hits {
		t.Fatalf("upstream hits %d after refusals, want %d", n, hits)
	}

	// A public key: 5 requests a minute per client IP, then 429 with
	// Retry-After and the RateLimit headers.
	pub := map[string]string{"X-Api-Key": public.Secret, "Origin": "https://example.com"}
	for i := range 5 {
		r := call(http.MethodGet, "/v1/sms", "", pub)
		if r.status != http.StatusOK {
			t.Fatalf("public key request %d: status %d; body %s", i+1, r.status, r.body)
		}
	}
	hits = seen.count()
	r = call(http.MethodGet, "/v1/sms", "", with(pub))
	refused("rate limited", r, 429, "rate_limited")
	for h, v := range map[string]string{"Retry-After": "300", "RateLimit-Policy": `"default";q=5;w=60`, "RateLimit": `"default";r=0;t=300`} {
		if got := r.header.Get(h); got != v {
			t.Errorf("rate limited: %s %q, want %q", h, got, v)
		}
	}

	// The database goes away: a key not cached gets 503.
	flaky.down.Store(true)
	refused("database down", call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": unused.Secret})), 503, "unavailable")
	flaky.down.Store(false)
	if n := seen.count(); n != hits {
		t.Fatalf("upstream hits %d after refusals, want %d", n, hits)
	}
}

// equalHeaders reports whether a and b hold the same fields and values.
func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
