// Command baseline is the yardstick of the data plane benchmark: a minimal
// Echo server, with no middleware, that answers 200 with no body on any
// path and method (-mode bare), or does what any cached forward-auth must
// and nothing more (-mode forward-auth): read the key header, check the
// key's CRC32, hash it with SHA-256, find it in a map, count the request
// with an atomic counter and answer five identity headers. The benchmark
// compares keyplane's forward-auth against both.
//
//	baseline [-addr 127.0.0.1:8090] [-mode bare|forward-auth -key KEY -prefix kp]
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
)

// identity is what the minimal forward-auth answers for its key: header
// values built once, as a cache of verified keys holds them.
type identity struct {
	keyID, orgID, org, env, scopes []string
	requests                       atomic.Int64
}

// minimalForwardAuth is forward-auth with nothing but what a cached
// verification cannot skip, and no allocation of its own.
func minimalForwardAuth(format apikey.Format, key string) echo.HandlerFunc {
	keys := map[[32]byte]*identity{
		sha256.Sum256([]byte(key)): {
			keyID: []string{"01a20a8d-664b-7a75-ad3e-a79c4a6a7913"}, orgID: []string{"01a20a8d-664b-7a75-ad3e-a79c4a6a7914"},
			org: []string{"bench"}, env: []string{"live"}, scopes: []string{""},
		},
	}
	return func(c echo.Context) error {
		h := c.Request().Header
		var presented string
		if v := h["X-Api-Key"]; len(v) > 0 {
			presented = v[0]
		}
		if _, err := format.Parse(presented); err != nil {
			return c.NoContent(http.StatusUnauthorized)
		}
		id, ok := keys[sha256.Sum256(unsafe.Slice(unsafe.StringData(presented), len(presented)))]
		if !ok {
			return c.NoContent(http.StatusUnauthorized)
		}
		id.requests.Add(1)
		out := c.Response().Header()
		out["X-Keyplane-Key-Id"], out["X-Keyplane-Org-Id"], out["X-Keyplane-Org"] = id.keyID, id.orgID, id.org
		out["X-Keyplane-Environment"], out["X-Keyplane-Scopes"] = id.env, id.scopes
		return c.NoContent(http.StatusOK)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then drains in-flight requests.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("BASELINE_ADDR")
	if def == "" {
		def = "127.0.0.1:8090"
	}
	addr := fs.String("addr", def, "listen address (env BASELINE_ADDR)")
	mode := fs.String("mode", "bare", "bare: 200 on any request; forward-auth: a minimal check of -key")
	key := fs.String("key", "", "with -mode forward-auth: the one key it knows")
	prefix := fs.String("prefix", "kp", "with -mode forward-auth: the key prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	var h echo.HandlerFunc
	switch *mode {
	case "bare":
		h = func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	case "forward-auth":
		format, err := apikey.DefaultFormat(*prefix)
		if err != nil {
			return err
		}
		if _, err := format.Parse(*key); err != nil {
			return fmt.Errorf("-key is not a key of prefix %s", *prefix)
		}
		h = minimalForwardAuth(format, *key)
	default:
		return fmt.Errorf("-mode %q: want bare or forward-auth", *mode)
	}
	if *mode == "forward-auth" {
		e.GET("/healthz", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	}
	e.Any("/", h)
	e.Any("/*", h)

	// The same server settings as keyplane serve, so only the handler differs.
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintln(stderr, "baseline listening on", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
