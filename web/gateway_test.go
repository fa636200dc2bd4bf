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
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// gatewayEnv is Keyplane behind a real gateway (nginx, Caddy): a Keyplane
// server with the organization acme, and an upstream API, each recording
// what it was asked. A test starts its gateway between the two with
// startGateway, then sends requests through it with call.
type gatewayEnv struct {
	*env
	gateway  string           // "nginx", "caddy": for key descriptions
	acme     org.Organization // owns every key the test creates
	auth     *exchanges       // what Keyplane was asked, with its answers
	seen     *exchanges       // what reached the upstream
	keyplane string           // host:port of Keyplane, recorded into auth
	upstream string           // host:port of the upstream, recorded into seen
	base     string           // the gateway's URL, set by startGateway
	client   *http.Client
}

// newGatewayEnv starts Keyplane over db with the scope sms:send, trusting
// 127.0.0.1 as its gateway, plus vars and tweaks as newEnv takes them; it
// creates the organization acme and starts the upstream, which answers
// every request 200 with X-App: upstream.
func newGatewayEnv(t *testing.T, db *store.DB, gateway string, vars map[string]string, tweaks ...func(*Deps)) *gatewayEnv {
	t.Helper()
	all := map[string]string{
		"KEYPLANE_SCOPES":          "sms:send=Send SMS",
		"KEYPLANE_TRUSTED_PROXIES": "127.0.0.1/32", // the gateway
	}
	for k, v := range vars {
		all[k] = v
	}
	e := newEnv(t, db, all, tweaks...)
	alice := e.user("alice@example.com", "Alice", false)
	g := &gatewayEnv{
		env: e, gateway: gateway, acme: e.org("Acme", "acme", alice.ID),
		auth: &exchanges{}, seen: &exchanges{},
		client: &http.Client{Timeout: 10 * time.Second},
	}
	kp := httptest.NewServer(recording(e.srv, g.auth))
	t.Cleanup(kp.Close)
	g.keyplane, g.upstream = kp.Listener.Addr().String(), g.startUpstream("upstream")
	return g
}

// startUpstream starts another upstream, which answers every request 200
// with X-App: name and records it into seen, as the first one does; it
// returns its host:port.
func (g *gatewayEnv) startUpstream(name string) string {
	app := httptest.NewServer(recording(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App", name)
		w.WriteHeader(http.StatusOK)
	}), g.seen))
	g.t.Cleanup(app.Close)
	return app.Listener.Addr().String()
}

// product creates a product from in, whose keys g.key then makes with
// apikey.Input{Product: in.Slug}.
func (g *gatewayEnv) product(in product.Input) {
	g.t.Helper()
	if _, err := g.products.Create(context.Background(), in); err != nil {
		g.t.Fatalf("create product %s: %v", in.Slug, err)
	}
}

// key creates a live key in acme from in; Kind defaults to private.
func (g *gatewayEnv) key(in apikey.Input) apikey.Created {
	g.t.Helper()
	if in.Kind == "" {
		in.Kind = "private"
	}
	in.Environment = "live"
	in.Description = g.gateway + " test"
	c, err := g.keys.Create(context.Background(), g.acme.ID, "", in, audit.Actor{})
	if err != nil {
		g.t.Fatalf("create key: %v", err)
	}
	return c
}

// revokedKey creates a private key in acme and revokes it.
func (g *gatewayEnv) revokedKey() apikey.Created {
	g.t.Helper()
	c := g.key(apikey.Input{})
	if _, err := g.keys.Revoke(context.Background(), g.acme.ID, c.Key.ID, audit.Actor{}); err != nil {
		g.t.Fatalf("revoke key: %v", err)
	}
	return c
}

// identity returns the X-Keyplane-* headers Keyplane answers for c, a key
// of acme (of any product) with the given scopes.
func (g *gatewayEnv) identity(c apikey.Created, scopes string) map[string]string {
	return map[string]string{
		"X-Keyplane-Key-Id": c.Key.ID, "X-Keyplane-Org-Id": g.acme.ID, "X-Keyplane-Org": "acme",
		"X-Keyplane-Environment": "live", "X-Keyplane-Scopes": scopes, "X-Keyplane-Product": c.Key.Product,
	}
}

// productsEnv is a gatewayEnv for README.md's "A second product"
// configurations: the default product's API under /email/ (POST /email/*
// needs email:send) and the product sms's under /sms/ (keys sms_live_...;
// POST /sms/* needs sms:send), each with its own upstream.
type productsEnv struct {
	*gatewayEnv
	email, sms string // host:port of each product's upstream, answering X-App: email or sms
}

// newProductsEnv starts Keyplane with both products, and their upstreams.
func newProductsEnv(t *testing.T, gateway string) *productsEnv {
	t.Helper()
	g := newGatewayEnv(t, storetest.SQLite(t), gateway, map[string]string{
		"KEYPLANE_SCOPES":       "email:send=Send email",
		"KEYPLANE_ROUTE_SCOPES": "POST /email/*=email:send",
	})
	g.product(product.Input{
		Slug: "sms", Name: "SMS", KeyFormat: "sms_{env}_", Kinds: "private",
		Scopes: "sms:send=Send SMS", RouteScopes: "POST /sms/*=sms:send",
	})
	return &productsEnv{gatewayEnv: g, email: g.startUpstream("email"), sms: g.startUpstream("sms")}
}

// productCase is one request through a gateway serving both products, and
// what must come of it.
type productCase struct {
	name, method, path, body string
	key                      apikey.Created // no key when its Secret is ""
	preflight                bool           // send Origin and Access-Control-Request-Method
	auth                     string         // Keyplane's path the gateway asks; "" when it must not ask
	status                   int            // the client's
	code                     string         // Keyplane's X-Keyplane-Error; "" when allowed
	app                      string         // the upstream that answers, "email" or "sms"; "" when none may
	scopes                   string         // the X-Keyplane-Scopes it sees; no identity at all without a key
}

// cases creates keys of both products and returns what README.md's
// configurations promise for them: each key passes on its own product's
// path under that product's route scopes, and is an unknown key on the
// other's.
func (p *productsEnv) cases() []productCase {
	p.t.Helper()
	mailer := p.key(apikey.Input{Scopes: []string{"email:send"}})
	mailReader := p.key(apikey.Input{})
	texter := p.key(apikey.Input{Product: "sms", Scopes: []string{"sms:send"}})
	smsReader := p.key(apikey.Input{Product: "sms"})
	if !strings.HasPrefix(texter.Secret, "sms_live_") || texter.Key.Product != "sms" {
		p.t.Fatalf("an sms key: %.9s... of product %q", texter.Secret, texter.Key.Product)
	}
	const get, post, options, send = http.MethodGet, http.MethodPost, http.MethodOptions, `{"to":"1"}`
	const emailAuth, smsAuth = "/v1/auth", "/v1/products/sms/auth"
	none := apikey.Created{}
	return []productCase{
		{"email key, its path", post, "/email/v1/send", send, mailer, false, emailAuth, 200, "", "email", "email:send"},
		{"email key, no scope needed", get, "/email/v1/send?id=1", "", mailReader, false, emailAuth, 200, "", "email", ""},
		{"sms key, its path", post, "/sms/v1/messages?to=1", send, texter, false, smsAuth, 200, "", "sms", "sms:send"},
		{"sms key, no scope needed", get, "/sms/v1/messages", "", smsReader, false, smsAuth, 200, "", "sms", ""},
		{"email route scope, not granted", post, "/email/v1/send", send, mailReader, false, emailAuth, 403, "forbidden", "", ""},
		{"sms route scope, not granted", post, "/sms/v1/messages", send, smsReader, false, smsAuth, 403, "forbidden", "", ""},
		{"sms key on the email path", post, "/email/v1/send", send, texter, false, emailAuth, 401, "unauthorized", "", ""},
		{"sms key on the email path, GET", get, "/email/v1/send", "", smsReader, false, emailAuth, 401, "unauthorized", "", ""},
		{"email key on the sms path", post, "/sms/v1/messages", send, mailer, false, smsAuth, 401, "unauthorized", "", ""},
		{"email key on the sms path, GET", get, "/sms/v1/messages", "", mailReader, false, smsAuth, 401, "unauthorized", "", ""},
		{"email key on the sms path, preflight", options, "/sms/v1/messages", "", mailer, true, smsAuth, 401, "unauthorized", "", ""},
		{"no key", get, "/sms/v1/messages", "", none, false, smsAuth, 401, "unauthorized", "", ""},
		{"preflight without a key", options, "/sms/v1/messages", "", none, true, smsAuth, 200, "", "sms", ""},
		{"neither product's path", get, "/v1/send", "", mailer, false, "", 404, "", "", ""},
	}
}

// gatewayStart starts a gateway that runs the configuration README.md
// documents for it, with only its addresses swapped: in front of keyplane
// and upstream (host:port each). It returns the gateway's base URL; the
// gateway stops when the test ends.
type gatewayStart func(t *testing.T, keyplane, upstream string) string

// startGateway starts a gateway with start in front of Keyplane and the
// upstream; call then sends requests through it.
func (g *gatewayEnv) startGateway(start gatewayStart) {
	g.t.Helper()
	g.base = start(g.t, g.keyplane, g.upstream)
}

// gatewayReply is the gateway's answer to the client.
type gatewayReply struct {
	status int
	header http.Header
	body   []byte
}

// call sends method path with body through the gateway. Headers in hdr are
// sent as written: a lower-case name stays lower-case.
func (g *gatewayEnv) call(method, path, body string, hdr map[string]string) gatewayReply {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	res, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return gatewayReply{res.StatusCode, res.Header, b}
}

// readmeBlock returns the ```lang fenced block that follows the paragraph
// starting with **paragraph** in the "### section" section of README.md.
// Gateway tests run that text, so the README cannot drift from what is
// tested.
func readmeBlock(t *testing.T, section, paragraph, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	_, rest, ok := strings.Cut(string(b), "\n### "+section+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", "### "+section)
	}
	_, rest, ok = strings.Cut(rest, "\n**"+paragraph+"**")
	if !ok {
		t.Fatalf("README.md's %q has no **%s** paragraph", section, paragraph)
	}
	_, block, ok := strings.Cut(rest, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("README.md's **%s** paragraph is not followed by a ```%s block", paragraph, lang)
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatalf("README.md's ```%s block is not closed", lang)
	}
	return block + "\n"
}

// swapAddresses replaces, in a configuration README.md documents, each
// swap[0] with swap[1]; it fails unless every swap[0] appears exactly once.
func swapAddresses(t *testing.T, conf string, swaps [][2]string) string {
	t.Helper()
	for _, swap := range swaps {
		if n := strings.Count(conf, swap[0]); n != 1 {
			t.Fatalf("README.md's block names %q %d times, want once: the test swaps it for its own address", swap[0], n)
		}
		conf = strings.Replace(conf, swap[0], swap[1], 1)
	}
	return conf
}

// gatewayProcess is a gateway to run for the length of a test.
type gatewayProcess struct {
	name   string        // "nginx", "caddy": the binary, and for messages
	bin    string        // path of the binary
	dir    string        // a temporary directory, its working directory
	listen string        // a free host:port on 127.0.0.1 for it to serve on
	args   []string      // its arguments
	env    []string      // added to the test's environment
	report func() string // what else to show when it fails: a log, its config
}

// newGatewayProcess finds the binary name on PATH or at fallback (the test
// fails without it) and picks a temporary directory and a free address;
// the caller writes the configuration and sets args before run.
func newGatewayProcess(t *testing.T, name, fallback string) gatewayProcess {
	t.Helper()
	p := gatewayProcess{name: name, dir: t.TempDir(), listen: "127.0.0.1:" + freePort(t)}
	if bin, err := exec.LookPath(name); err == nil {
		p.bin = bin
	} else if _, err := os.Stat(fallback); err == nil {
		p.bin = fallback
	} else {
		t.Fatalf("%s not found: apt-get install -y %s", name, name)
	}
	return p
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// run starts p, stops it with SIGTERM when the test ends, and returns
// "http://" + p.listen once p accepts connections there. The test fails
// when p exits or does not listen within 10 seconds; p's output is shown
// then, and whenever the test fails.
func (p gatewayProcess) run(t *testing.T) string {
	t.Helper()
	if p.report == nil {
		p.report = func() string { return "" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, p.bin, p.args...)
	cmd.Dir = p.dir
	if p.env != nil {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s\n%s", p.name, out.String(), p.report())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s\n%s", p.name, err, out.String(), p.report())
		default:
		}
		c, err := net.DialTimeout("tcp", p.listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + p.listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v\n%s\n%s", p.name, p.listen, err, out.String(), p.report())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exchange is one request as a server received it, and the answer it gave.
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

// count returns how many requests were recorded.
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
		if ck := http.CanonicalHeaderKey(k); strings.HasPrefix(ck, "X-Keyplane-") {
			out[ck] = append(out[ck], v...)
		}
	}
	return out
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
