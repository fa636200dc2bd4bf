package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// throwawayDatabase creates a database of the test's own on the test server
// (NOTIFY channels are per database, so parallel tests cannot hear each
// other) and drops it when the test ends. It returns its URL.
func throwawayDatabase(t *testing.T) string {
	t.Helper()
	base := storetest.PostgresURL()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	buf := make([]byte, 8)
	rand.Read(buf)
	name := "kp_test_" + hex.EncodeToString(buf)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t *testing.T, o store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countingStore counts the reads of another Store.
type countingStore struct {
	Store
	reads chan struct{}
}

func (s countingStore) KeyByHash(ctx context.Context, h []byte) (*Key, error) {
	select {
	case s.reads <- struct{}{}:
	default:
	}
	return s.Store.KeyByHash(ctx, h)
}

// server is one running Keyplane's data plane: a verifier over its own
// database handle, watching for changes.
type server struct {
	v     *Verifier
	reads chan struct{}
}

func startServer(t *testing.T, db *store.DB, dsn string) *server {
	t.Helper()
	s := &server{reads: make(chan struct{}, 1000)}
	s.v = New(Options{Store: countingStore{Store: DBStore{DB: db}, reads: s.reads}, Prefix: "kp", Logger: quietLogger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.v.Watch(ctx, db, dsn); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return s
}

func (s *server) verify(key string) Result {
	return s.v.Verify(context.Background(), Request{Key: key})
}

// waitAnnounced waits until the server has heard of key's creation.
func (s *server) waitAnnounced(t *testing.T, key string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for h := hashKey(apikey.Hash(key)); !s.v.keys.current.Load() || !s.v.keys.mayContain(h); {
		if time.Now().After(deadline) {
			t.Fatal("the server did not hear of the key's creation within 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls every 50 ms until verify answers code, and fails after
// within.
func (s *server) waitFor(t *testing.T, name, key, code string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res := s.verify(key)
		if res.Code == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %q %v after %v, want %q", name, res.Code, res.Allowed, within, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seedKey creates an organization and a private key through db.
func seedKey(t *testing.T, db *store.DB) (keys *apikey.Service, orgID, keyID, secret string) {
	t.Helper()
	ctx := context.Background()
	u, err := account.NewService(db, nil).CreateUser(ctx, account.NewUser{Email: "w@example.com", Name: "W", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := org.NewService(db, nil).Create(ctx, "Acme", "acme", u.ID, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	// No Changed hook: this is another process (the CLI, another replica).
	keys = apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100, Policy: apikey.Policy{Scopes: []string{"admin"}}})
	c, err := keys.Create(ctx, o.ID, "", apikey.Input{Description: "watch", Kind: "private", Environment: "live"}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return keys, o.ID, c.Key.ID, c.Secret
}

// drain empties a server's read counter.
func drain(s *server) int {
	n := 0
	for {
		select {
		case <-s.reads:
			n++
		default:
			return n
		}
	}
}

// crossProcess runs the scenario: both servers cache the key, another
// process revokes it, and both answer key_revoked within a second.
func crossProcess(t *testing.T, cli *store.DB, a, b *server) {
	t.Helper()
	keys, orgID, keyID, secret := seedKey(t, cli)
	for name, s := range map[string]*server{"A": a, "B": b} {
		// A key created elsewhere works at once, before its announcement.
		if res := s.verify(secret); !res.Allowed {
			t.Fatalf("server %s, the moment the key was created: %+v", name, res)
		}
		// The announcement drops the entry read before it; one more read.
		s.waitAnnounced(t, secret)
		s.verify(secret)
		drain(s)
		if res := s.verify(secret); !res.Allowed {
			t.Fatalf("server %s before: %+v", name, res)
		}
		if n := drain(s); n != 0 {
			t.Fatalf("server %s read the database %d times for a cached key", name, n)
		}
	}
	if _, err := keys.Revoke(context.Background(), orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "server B", secret, CodeRevoked, time.Second)
	a.waitFor(t, "server A", secret, CodeRevoked, time.Second)
}

// waitListening waits until every server hears key changes.
func waitListening(t *testing.T, servers ...*server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for i, s := range servers {
		for !s.v.listening.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("server %d does not listen after 5 s", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestWatchPostgres(t *testing.T) {
	dsn := throwawayDatabase(t)
	cli := open(t, store.Options{DatabaseURL: dsn})
	dbA := open(t, store.Options{DatabaseURL: dsn})
	dbB := open(t, store.Options{DatabaseURL: dsn})
	a, b := startServer(t, dbA, dsn), startServer(t, dbB, dsn)
	waitListening(t, a, b)
	crossProcess(t, cli, a, b)

	// An edit (here, an IP allowlist) reaches the other servers as well.
	keys, orgID, keyID, secret := seedKey2(t, cli)
	if res := b.verify(secret); !res.Allowed {
		t.Fatalf("server B, the moment the key was created: %+v", res)
	}
	if _, err := keys.Update(context.Background(), orgID, keyID, apikey.Input{Description: "edited", IPs: "10.0.0.0/8"}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "server B", secret, CodeIPNotAllowed, time.Second)
	lifecycleReaches(t, cli, a)
}

// seedKey2 adds a second key to the organization made by seedKey.
func seedKey2(t *testing.T, db *store.DB) (*apikey.Service, string, string, string) {
	t.Helper()
	var orgID string
	if err := db.Table("organizations").Select("id").Where("slug = ?", "acme").Take(&orgID).Error; err != nil {
		t.Fatal(err)
	}
	keys := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100})
	c, err := keys.Create(context.Background(), orgID, "", apikey.Input{Description: "second", Kind: "private", Environment: "live"}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return keys, orgID, c.Key.ID, c.Secret
}

func TestWatchSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyplane.db")
	cli := open(t, store.Options{SQLitePath: path})
	dbA := open(t, store.Options{SQLitePath: path})
	dbB := open(t, store.Options{SQLitePath: path})
	a, b := startServer(t, dbA, ""), startServer(t, dbB, "")
	waitListening(t, a, b)
	crossProcess(t, cli, a, b)

	keys, orgID, keyID, secret := seedKey2(t, cli)
	if res := b.verify(secret); !res.Allowed {
		t.Fatalf("server B, the moment the key was created: %+v", res)
	}
	if _, err := keys.Update(context.Background(), orgID, keyID, apikey.Input{Description: "edited", IPs: "10.0.0.0/8"}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "server B", secret, CodeIPNotAllowed, time.Second)
	lifecycleReaches(t, cli, a)
}

// TestWatchPostgresReconnects: a listener whose connection is killed comes
// back, and the cache is dropped meanwhile so no change is missed.
func TestWatchPostgresReconnects(t *testing.T) {
	dsn := throwawayDatabase(t)
	cli := open(t, store.Options{DatabaseURL: dsn})
	dbB := open(t, store.Options{DatabaseURL: dsn})
	b := startServer(t, dbB, dsn)
	waitListening(t, b)
	keys, orgID, keyID, secret := seedKey(t, cli)
	if res := b.verify(secret); !res.Allowed {
		t.Fatalf("server B, the moment the key was created: %+v", res)
	}
	if err := cli.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Revoke(context.Background(), orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "server B", secret, CodeRevoked, 2*time.Second)
	waitListening(t, b)
}

// lifecycleReaches: disabling and enabling a key, disabling its whole
// organization, and importing a key a server had cached as unknown all
// reach server s within a second, as a revoke does.
func lifecycleReaches(t *testing.T, cli *store.DB, s *server) {
	t.Helper()
	ctx := context.Background()
	keys, orgID, keyID, secret := seedKey2(t, cli)
	if res := s.verify(secret); !res.Allowed {
		t.Fatalf("a new key: %+v", res)
	}
	if _, err := keys.Disable(ctx, orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "a disabled key", secret, CodeDisabled, time.Second)
	if _, err := keys.Enable(ctx, orgID, keyID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "an enabled key", secret, "", time.Second)
	if err := keys.SetOrgDisabled(ctx, orgID, true, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "a key of a disabled organization", secret, CodeDisabled, time.Second)
	if err := keys.SetOrgDisabled(ctx, orgID, false, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "a key of an enabled organization", secret, "", time.Second)

	imported := wellFormedUnknown(t)
	if res := s.verify(imported); res.Code != CodeUnauthorized {
		t.Fatalf("a key before its import: %+v", res)
	}
	sum := apikey.Hash(imported)
	if _, err := keys.Import(ctx, orgID, apikey.Import{Lines: []apikey.ImportLine{{SHA256: hex.EncodeToString(sum)}}}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "an imported key cached as unknown", imported, "", time.Second)
}
