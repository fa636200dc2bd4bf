// Command keyplane runs the Keyplane server and its administrative commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"keyplane/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a mistake in the command line; it exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode prints err as one line and returns 0 for success, 2 for bad usage
// or configuration, 1 for any other failure.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "keyplane:", err)
	var ue usageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return 2
	}
	return 1
}

const usageText = `usage: keyplane [serve | migrate | version | demo [--force] | admin <command> | keys <command>]`

// run is the whole program: it reads its configuration from getenv and
// dispatches to the subcommand named in args (serve when none).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "keyplane", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	if cmd == "keys" || cmd == "admin" {
		// With a remote, these commands go through its API and never read
		// the server's configuration or open a database.
		r, err := remoteFromEnv(getenv)
		if err != nil {
			return err
		}
		if r != nil && cmd == "keys" {
			return remoteKeysCommand(ctx, r, args, stdin, stdout)
		}
		if r != nil {
			return remoteAdminCommand(ctx, r, args, stdout)
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return usagef("serve takes no arguments")
		}
		if getenv("GOGC") == "" {
			// The data plane allocates little per request, but a collection
			// marks the whole live heap (caches, templates, the API
			// document), so at Go's default a large share of a cached
			// verification's CPU went to the collector. GOGC, when set,
			// still decides.
			debug.SetGCPercent(serveGCPercent)
		}
		return serve(ctx, cfg, stderr)
	case "migrate":
		if len(args) > 0 {
			return usagef("migrate takes no arguments")
		}
		db, err := openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "admin":
		return adminCommand(ctx, cfg, args, stdin, stdout)
	case "keys":
		return keysCommand(ctx, cfg, args, stdin, stdout)
	case "demo":
		return demoCommand(ctx, cfg, args, stdout)
	}
	return usagef("unknown command %q; %s", cmd, usageText)
}
