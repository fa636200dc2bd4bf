// Command mockidp is an OpenID Connect provider for Keyplane's browser
// tests and local trials of single sign-on: mockoidc on a loopback address,
// with a fixed client and one person who is signed in at once, without a
// login form. It is not for production: anyone who reaches it signs in as
// that person.
//
// Environment: MOCKIDP_ADDR (default 127.0.0.1:18471, loopback only),
// MOCKIDP_CLIENT_ID, MOCKIDP_CLIENT_SECRET, MOCKIDP_SUBJECT, MOCKIDP_EMAIL,
// MOCKIDP_NAME. The issuer is http://{addr}/oidc.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mockidp:", err)
		os.Exit(1)
	}
}

// run serves the provider until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	addr := get("MOCKIDP_ADDR", "127.0.0.1:18471")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("MOCKIDP_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("MOCKIDP_ADDR must be a loopback address: anyone who reaches this provider signs in")
	}
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		return err
	}
	m.ClientID = get("MOCKIDP_CLIENT_ID", "keyplane-e2e")
	m.ClientSecret = get("MOCKIDP_CLIENT_SECRET", "keyplane-e2e-secret")
	user := &mockoidc.MockUser{
		Subject:           get("MOCKIDP_SUBJECT", "sso-user-1"),
		Email:             get("MOCKIDP_EMAIL", "sam@example.com"),
		EmailVerified:     true,
		PreferredUsername: get("MOCKIDP_NAME", "Sam Single"),
	}
	// Every authorization signs the same person in.
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				m.QueueUser(user)
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := m.Start(ln, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mockidp: issuer %s, client %s, signs in %s\n", m.Issuer(), m.ClientID, user.Email)
	<-ctx.Done()
	return m.Shutdown()
}
