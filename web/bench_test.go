package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// BenchmarkKeysPage renders the keys page of an organization with 100 keys,
// each with 30 days of hourly usage, half of them with a quota, and reports the server time per page and the bytes a first visit
// transfers (HTML, CSS and JavaScript, gzip). Targets: under 5 ms, under
// 60 KB.
func BenchmarkKeysPage(b *testing.B) {
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		b.Run(dialect, func(b *testing.B) {
			db := benchDB(b, dialect)
			srv, cookie := benchServer(b, db, 100)
			benchUsage(b, db, srv.now()) // every key busy: the list's activity read is real
			get := func(path string) *httptest.ResponseRecorder { return benchGet(b, srv, cookie, path) }

			page := get("/orgs/acme/keys")
			total := page.Body.Len()
			for _, name := range []string{"app.css", "htmx.min.js", "app.js"} {
				total += get("/static/" + name + "?v=1").Body.Len()
			}

			b.ResetTimer()
			for b.Loop() {
				get("/orgs/acme/keys")
			}
			ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/page")
			b.ReportMetric(float64(total)/1024, "KB-transfer-gzip")
			b.Logf("keys page, 100 keys with 30 days of usage, %s: %.2f ms per render%s; %.1f KB transferred gzipped [target < 60 KB]",
				dialect, ms, verdict(dialect, ms, 5), float64(total)/1024)
		})
	}
}

// benchDB is a fresh database of dialect.
func benchDB(b *testing.B, dialect string) *store.DB {
	if dialect == store.Postgres {
		return storetest.Postgres(b)
	}
	return storetest.SQLite(b)
}

// benchGet sends a GET for path as cookie's user, accepting gzip, and fails
// the benchmark on anything but 200.
func benchGet(b *testing.B, srv *Server, cookie *http.Cookie, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d", path, rec.Code)
	}
	return rec
}

// benchServer returns a server whose organization "acme" has n keys, and
// the session cookie of its admin. tweaks may change the server's
// dependencies.
func benchServer(b *testing.B, db *store.DB, n int, tweaks ...func(*Deps)) (*Server, *http.Cookie) {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"KEYPLANE_SESSION_SECRET": testSecret, "KEYPLANE_MAX_KEYS_PER_ORG": "1000"}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	accounts := account.NewService(db, nil, account.WithHashParams(account.TestHashParams))
	orgs := org.NewService(db, nil, org.WithAccounts(accounts))
	keySvc := apikey.NewService(db, apikey.ConfigOptions(cfg))
	logger := slog.New(slog.DiscardHandler)
	u, err := accounts.CreateUser(ctx, account.NewUser{Email: "admin@example.com", Name: "Admin", Password: "a-long-enough-password"})
	if err != nil {
		b.Fatal(err)
	}
	o, err := orgs.Create(ctx, "Acme", "acme", u.ID, audit.Actor{})
	if err != nil {
		b.Fatal(err)
	}
	actor := audit.Actor{UserID: u.ID, Email: u.Email}
	for i := range n {
		in := apikey.Input{
			Description: fmt.Sprintf("Service number %d of the platform", i), Kind: "private", Environment: "live",
			Scopes: []string{"read", "write"}, IPs: "10.0.0.0/8\n192.168.1.10",
		}
		if i%3 == 0 {
			in.Kind, in.Domains = "public", "shop.example.com\n*.example.org"
		}
		// Half the keys have a quota, whose standing the list reads.
		switch i % 4 {
		case 1:
			in.Quota = apikey.QuotaInput{Kind: "day", Limit: "10000"}
		case 3:
			in.Quota = apikey.QuotaInput{Kind: "credits", Limit: "5000", Refill: "1d"}
		}
		if _, err := keySvc.Create(ctx, o.ID, "", in, actor); err != nil {
			b.Fatal(err)
		}
	}
	deps := Deps{
		Config: cfg, DB: db, Accounts: accounts, Orgs: orgs, Keys: keySvc,
		Throttle: account.NewThrottle(nil), Logger: logger, SessionSecret: cfg.SessionSecret,
	}
	withServices(&deps, db)
	for _, tweak := range tweaks {
		tweak(&deps)
	}
	srv := NewServer(deps)
	token, _, err := accounts.CreateSession(ctx, u.ID, "127.0.0.1", "bench", account.SessionLimits{Idle: cfg.SessionIdle, Max: cfg.SessionMax})
	if err != nil {
		b.Fatal(err)
	}
	value, err := srv.sessions.codec.Encode(srv.sessions.CookieName(), token)
	if err != nil {
		b.Fatal(err)
	}
	return srv, &http.Cookie{Name: srv.sessions.CookieName(), Value: value}
}
