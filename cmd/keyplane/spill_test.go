package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyplane/internal/faultproxy"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestUsageSpilledAtShutdownIsWrittenAtNextStart stops the server (as
// SIGTERM does) while PostgreSQL is unreachable: the counts go to a spill
// file in KEYPLANE_SPILL_DIR, and the next start writes them exactly once.
func TestUsageSpilledAtShutdownIsWrittenAtNextStart(t *testing.T) {
	dsn, _ := storetest.SchemaURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	spillDir := filepath.Join(t.TempDir(), "spill")
	getenv := env(t, map[string]string{
		"KEYPLANE_ADDR": "127.0.0.1:0", "DATABASE_URL": u.String(), "KEYPLANE_SESSION_SECRET": testSessionSecret, "KEYPLANE_ENCRYPTION_KEY": testSessionSecret,
		"KEYPLANE_SPILL_DIR": spillDir,
	})
	keys := createOrgWithKeys(t, getenv, "A", "B")
	// A's requests spend its credits too: the spill file carries them.
	setCredits(t, store.Options{DatabaseURL: dsn}, "A", 1000)

	srv := startServer(t, getenv)
	client := &http.Client{Timeout: 5 * time.Second}
	want := map[string]int64{}
	verify := func(desc, key string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"key": key})
		res, err := client.Post("http://"+srv.addr+"/v1/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Valid bool `json:"valid"`
		}
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode == http.StatusOK && out.Valid {
			want[desc]++
		}
	}
	for i := range 60 {
		verify("A", keys[0])
		if i%3 == 0 {
			verify("B", keys[1])
		}
	}
	if want["A"] != 60 || want["B"] != 20 {
		t.Fatalf("valid answers %v while the database is up, want A 60, B 20", want)
	}
	proxy.Cut()
	// Cached keys still answer, and count, while the database is away.
	for range 15 {
		verify("A", keys[0])
	}
	if pending := srv.metric(t, client, "keyplane_usage_backlog"); pending < 1 {
		t.Fatalf("usage backlog %v with the database away, want counters to spill", pending)
	}
	client.CloseIdleConnections()
	stopped := time.Now()
	srv.stop(t)
	stopTook := time.Since(stopped)

	names := spillFileNames(t, spillDir)
	if len(names) != 1 {
		t.Fatalf("spill dir holds %q after the shutdown, want one spill file; logs:\n%s", names, srv.logs)
	}
	if !strings.Contains(srv.logs.String(), "counts spilled to disk") {
		t.Errorf("the log does not say counts were spilled:\n%s", srv.logs)
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, getenv)
	for deadline := time.Now().Add(10 * time.Second); len(spillFileNames(t, spillDir)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spill file was not written within 10s of the start; logs:\n%s", again.logs)
		}
	}
	// Replayed before the first request: the key starts from what it
	// spent before the shutdown, the spilled part included.
	spentA := want["A"]
	if out := verifyCost(t, client, again, keys[0], 0); !out.Valid || out.Quota == nil || out.Quota.Remaining != 1000-spentA {
		t.Errorf("after the replay, A's quota: %+v, want remaining %d", out.Quota, 1000-spentA)
	}
	want["A"]++ // that check is a request too, which spent nothing
	again.stop(t)
	if got := spentOf(t, store.Options{DatabaseURL: dsn}, "A"); got != spentA {
		t.Errorf("quota_spent of A = %d, want %d (every allowed request, the spilled ones included)", got, spentA)
	}

	db, err := store.Open(context.Background(), store.Options{DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows []struct {
		Description string
		Total       int64
	}
	err = db.Raw("SELECT k.description, SUM(u.count) AS total FROM usage_hourly u JOIN api_keys k ON k.id = u.key_id GROUP BY k.description").Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Description] = r.Total
	}
	if len(got) != len(want) || got["A"] != want["A"] || got["B"] != want["B"] {
		t.Fatalf("usage_hourly per key %v, want %v; logs of the second start:\n%s", got, want, again.logs)
	}
	t.Logf("figure: SIGTERM with the database away: stopped in %v, spilled; the next start wrote %v, exactly the answers given (0 lost, 0 twice)",
		stopTook.Round(time.Millisecond), got)
}

// spillFileNames lists the spill files in dir.
func spillFileNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "usage-spill-") && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	return names
}
