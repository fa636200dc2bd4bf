package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyplane/internal/config"
	"keyplane/internal/ratelimit/ratelimittest"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestQuotaSurvivesRestart spends part of a key's credits, stops the
// server (as SIGTERM does) and starts it again: the spent amount is kept,
// and the quota refuses exactly at its limit.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
		testQuotaSurvivesRestart(t, getenv, store.Options{DataDir: getenv("KEYPLANE_DATA_DIR")})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := storetest.SchemaURL(t)
		getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "DATABASE_URL": dsn, "KEYPLANE_SESSION_SECRET": testSessionSecret, "KEYPLANE_ENCRYPTION_KEY": testSessionSecret})
		testQuotaSurvivesRestart(t, getenv, store.Options{DatabaseURL: dsn})
	})
}

func testQuotaSurvivesRestart(t *testing.T, getenv func(string) string, opts store.Options) {
	key := createOrgWithKeys(t, getenv, "Metered")[0]
	setCredits(t, opts, "Metered", 50)

	client := &http.Client{Timeout: 5 * time.Second}
	srv := startServer(t, getenv)
	for i := range 30 {
		if out := verifyCost(t, client, srv, key, 1); !out.Valid || out.Quota == nil || out.Quota.Remaining != int64(49-i) {
			t.Fatalf("request %d: %+v", i, out)
		}
	}
	srv.stop(t)
	if got := spentOf(t, opts, "Metered"); got != 30 {
		t.Fatalf("quota_spent after the shutdown = %d, want 30", got)
	}

	again := startServer(t, getenv)
	defer again.stop(t)
	if out := verifyCost(t, client, again, key, 15); !out.Valid || out.Quota.Remaining != 5 {
		t.Fatalf("after the restart, cost 15: %+v (want remaining 5: the 30 spent before were kept)", out)
	}
	if out := verifyCost(t, client, again, key, 6); out.Valid || out.Code != "quota_exceeded" {
		t.Fatalf("cost 6 with 5 left: %+v, want quota_exceeded", out)
	}
	if out := verifyCost(t, client, again, key, 5); !out.Valid || out.Quota.Remaining != 0 {
		t.Fatalf("cost 5 with 5 left: %+v", out)
	}
}

type verifyOut struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
	Quota *struct {
		Limit     int64 `json:"limit"`
		Remaining int64 `json:"remaining"`
		Reset     *int  `json:"reset"`
	} `json:"quota"`
}

// verifyCost asks POST /v1/verify about key with a cost.
func verifyCost(t *testing.T, client *http.Client, srv *testServer, key string, cost int) verifyOut {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"key": key, "cost": cost})
	res, err := client.Post("http://"+srv.addr+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out verifyOut
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("verify: status %d, %v", res.StatusCode, err)
	}
	return out
}

// setCredits gives the key described so a balance of credits, never
// refilled, straight in the database.
func setCredits(t *testing.T, opts store.Options, description string, credits int64) {
	t.Helper()
	db, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Exec("UPDATE api_keys SET quota_kind = 'credits', quota_limit = ?, quota_anchor = ? WHERE description = ?",
		credits, time.Now().UTC().Truncate(time.Second), description).Error
	if err != nil {
		t.Fatal(err)
	}
}

// spentOf is what the key described so has spent, as the database holds it.
func spentOf(t *testing.T, opts store.Options, description string) int64 {
	t.Helper()
	db, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var spent int64
	err = db.Raw("SELECT COALESCE(SUM(s.spent), 0) FROM quota_spent s JOIN api_keys k ON k.id = s.subject_id WHERE k.description = ?", description).Scan(&spent).Error
	if err != nil {
		t.Fatal(err)
	}
	return spent
}

// TestQuotaExactAcrossReplicas runs two servers on one PostgreSQL and one
// Redis and sends concurrent requests to both: together they allow exactly
// the quota, and the database holds exactly what was allowed.
func TestQuotaExactAcrossReplicas(t *testing.T) {
	ratelimittest.Redis(t) // fails the test when Redis is not reachable
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	dsn, _ := storetest.SchemaURL(t)
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "DATABASE_URL": dsn, "REDIS_URL": redisURL,
		"KEYPLANE_SESSION_SECRET": testSessionSecret, "KEYPLANE_ENCRYPTION_KEY": testSessionSecret})
	opts := store.Options{DatabaseURL: dsn}
	key := createOrgWithKeys(t, getenv, "Shared")[0]
	setCredits(t, opts, "Shared", 100)

	replicas := []*testServer{startServer(t, getenv), startServer(t, getenv)}
	client := &http.Client{Timeout: 5 * time.Second}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				out := verifyCost(t, client, replicas[(g+i)%2], key, 1)
				switch {
				case out.Valid:
					allowed.Add(1)
				case out.Code == "quota_exceeded":
					refused.Add(1)
				default:
					t.Errorf("unexpected answer %+v", out)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 100 || refused.Load() != 220 {
		t.Fatalf("two replicas allowed %d and refused %d of 320 requests; want exactly 100 allowed", allowed.Load(), refused.Load())
	}
	for _, r := range replicas {
		r.stop(t)
	}
	if got := spentOf(t, opts, "Shared"); got != 100 {
		t.Fatalf("quota_spent = %d after both stopped, want 100", got)
	}
}

// TestReportOnlyCountsEqualRequests sends requests that report-only
// restrictions would refuse, each kind a known number of times, through a
// running server, stops it, and finds exactly those numbers per outcome in
// the database, with the refused addresses among the key's sources.
func TestReportOnlyCountsEqualRequests(t *testing.T) {
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "KEYPLANE_SCOPES": "sms:send=Send SMS;reports:read=Read reports"})
	createOrgWithKeys(t, getenv)
	code, key, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", "Tightened",
		"--scope", "sms:send", "--ip", "203.0.113.0/24", "--credits", "5", "--report-only", "ips,scopes,quota")
	if code != 0 {
		t.Fatalf("keys create: %d %s", code, stderr)
	}
	srv := startServer(t, getenv)
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(n int, body map[string]any) {
		for range n {
			body["key"] = strings.TrimSpace(key)
			raw, _ := json.Marshal(body)
			res, err := client.Post("http://"+srv.addr+"/v1/verify", "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var out verifyOut
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if !out.Valid {
				t.Fatalf("a report-only restriction refused: %+v", out)
			}
		}
	}
	send(3, map[string]any{"ip": "203.0.113.9", "scope": "sms:send"})      // allowed: spends 3 of 5
	send(4, map[string]any{"ip": "198.51.100.7", "scope": "sms:send"})     // would_ip_not_allowed (spends on)
	send(2, map[string]any{"ip": "203.0.113.9", "scope": "reports:read"})  // would_forbidden
	send(5, map[string]any{"ip": "203.0.113.9", "scope": "sms:send"})      // would_quota_exceeded: 9 spent of 5
	send(1, map[string]any{"ip": "198.51.100.8", "scope": "reports:read"}) // the first of two: would_ip_not_allowed
	srv.stop(t)

	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows []struct {
		Outcome string
		Total   int64
	}
	if err := db.Raw("SELECT outcome, SUM(count) AS total FROM usage_hourly GROUP BY outcome").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Outcome] = r.Total
	}
	want := map[string]int64{"allowed": 3, "would_ip_not_allowed": 5, "would_forbidden": 2, "would_quota_exceeded": 5}
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for o, n := range want {
		if got[o] != n {
			t.Errorf("%s: %d, want %d (all: %v)", o, got[o], n, got)
		}
	}
	var wouldIPs []string
	if err := db.Raw("SELECT value FROM usage_sources WHERE kind = 'would_ip' ORDER BY value").Scan(&wouldIPs).Error; err != nil {
		t.Fatal(err)
	}
	if strings.Join(wouldIPs, ",") != "198.51.100.7,198.51.100.8,203.0.113.9" {
		t.Errorf("would_ip sources %v", wouldIPs)
	}
}
