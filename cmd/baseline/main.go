// Command baseline is the yardstick of the data plane benchmark: a minimal
// Echo server that answers 200 with no body on any path and method, with no
// middleware. The benchmark compares keyplane's forward-auth against it.
//
//	baseline [-addr 127.0.0.1:8090]    (or BASELINE_ADDR)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

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
	if err := fs.Parse(args); err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	ok := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	e.Any("/", ok)
	e.Any("/*", ok)

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
