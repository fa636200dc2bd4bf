package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/faultproxy"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
)

const testSessionSecret = "a-session-secret-for-tests-0123456789abcdef"

// testServer is `keyplane serve` running in the test's process.
type testServer struct {
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer runs serve with getenv and waits for its address in the log.
// The server is stopped when the test ends, if the test has not stopped it.
func startServer(t *testing.T, getenv func(string) string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), io.Discard, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
	})
	addrRE := regexp.MustCompile(`msg="keyplane listening" addr=(\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(s.logs.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve returned %v before listening; logs:\n%s", err, s.logs)
		default:
		}
	}
	t.Fatalf("server did not start; logs:\n%s", s.logs)
	return nil
}

// stop cancels serve's context, as SIGTERM does, and fails the test unless
// serve returns nil within 15 s.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve returned %v after shutdown, want nil; logs:\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of the signal; logs:\n%s", s.logs)
	}
}

// get sends GET path with headers (name, value pairs) and returns the status
// and body.
func (s *testServer) get(client *http.Client, path string, headers ...string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// metric returns the value of an unlabelled sample in /metrics.
func (s *testServer) metric(t *testing.T, client *http.Client, name string) float64 {
	t.Helper()
	status, body, err := s.get(client, "/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("/metrics: %d %v", status, err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// errorCode returns error.code of a JSON error body.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error.Code
}

// createOrgWithKeys creates a user and the organization acme through the
// CLI, then one private key per description, and returns the keys.
func createOrgWithKeys(t *testing.T, getenv func(string) string, descriptions ...string) []string {
	t.Helper()
	if code, _, stderr := runCLI(t, getenv, "a long enough password\n", "admin", "create-user", "--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("create-user: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, getenv, "", "admin", "create-org", "--name", "Acme", "--slug", "acme", "--admin", "ada@example.com"); code != 0 {
		t.Fatalf("create-org: exit %d: %s", code, stderr)
	}
	var keys []string
	for _, d := range descriptions {
		code, out, stderr := runCLI(t, getenv, "", "keys", "create", "--org", "acme", "--description", d)
		if code != 0 {
			t.Fatalf("keys create: exit %d: %s", code, stderr)
		}
		keys = append(keys, strings.TrimSpace(out))
	}
	return keys
}

// listKeysJSON returns `keys list --org acme --json`.
func listKeysJSON(t *testing.T, getenv func(string) string) []map[string]any {
	t.Helper()
	code, out, stderr := runCLI(t, getenv, "", "keys", "list", "--org", "acme", "--json")
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("keys list --json: %v %q", err, out)
	}
	return list
}

func TestUsageSurvivesShutdown(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0"})
		testUsageSurvivesShutdown(t, getenv, store.Options{DataDir: getenv("KEYPLANE_DATA_DIR")})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := storetest.SchemaURL(t)
		getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "DATABASE_URL": dsn, "KEYPLANE_SESSION_SECRET": testSessionSecret, "KEYPLANE_ENCRYPTION_KEY": testSessionSecret})
		testUsageSurvivesShutdown(t, getenv, store.Options{DatabaseURL: dsn})
	})
}

// testUsageSurvivesShutdown sends requests, stops the server before the
// first periodic flush, and expects every counted request in the database.
func testUsageSurvivesShutdown(t *testing.T, getenv func(string) string, opts store.Options) {
	const total, forbiddenEvery, wrongKeys = 137, 9, 11
	key := createOrgWithKeys(t, getenv, "Usage")[0]
	// The same key with its last character changed fails the checksum.
	wrong := key[:len(key)-1] + "A"
	if strings.HasSuffix(key, "A") {
		wrong = key[:len(key)-1] + "B"
	}

	srv := startServer(t, getenv)
	started := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}

	type call struct{ key, scope string }
	var calls []call
	wantAllowed, wantForbidden := 0, 0
	for i := 0; i < total; i++ {
		if i%forbiddenEvery == 4 {
			calls = append(calls, call{key, "billing:write"})
			wantForbidden++
		} else {
			calls = append(calls, call{key, ""})
			wantAllowed++
		}
		if i%(total/wrongKeys) == 0 && i/(total/wrongKeys) < wrongKeys {
			calls = append(calls, call{wrong, ""})
		}
	}

	work := make(chan call)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				headers := []string{"X-Api-Key", c.key}
				want, wantCode := http.StatusOK, ""
				switch {
				case c.key != key:
					want, wantCode = http.StatusUnauthorized, "unauthorized"
				case c.scope != "":
					headers = append(headers, "X-Required-Scope", c.scope)
					want, wantCode = http.StatusForbidden, "forbidden"
				}
				status, body, err := srv.get(client, "/v1/auth", headers...)
				if err != nil || status != want || errorCode(body) != wantCode {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%+v: %d %s %v, want %d %q", c, status, body, err, want, wantCode))
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range calls {
		work <- c
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests answered wrongly, first: %s", len(failures), len(calls), failures[0])
	}

	// Nothing may have reached the database yet, or the final flush at
	// shutdown would go untested.
	if flushes := srv.metric(t, client, "keyplane_usage_flush_duration_seconds_count"); flushes != 0 {
		t.Fatalf("%v usage flushes before shutdown (%v after start, ticks every %v); want none, so the shutdown flush is what is tested", flushes, time.Since(started), usage.FlushEvery)
	}
	if pending := srv.metric(t, client, "keyplane_usage_backlog"); pending < 2 {
		t.Fatalf("usage backlog %v before shutdown, want at least 2 counters (allowed, forbidden)", pending)
	}
	// A connection the client dialled but never used holds Shutdown for
	// 5 s, long enough for a periodic flush to hide a missing final one.
	client.CloseIdleConnections()
	srv.stop(t)
	if took := time.Since(started); took >= usage.FlushEvery {
		t.Fatalf("the server ran %v, past the first periodic flush; the shutdown flush went untested", took)
	}

	db, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("reopen database: %v", err)
	}
	defer db.Close()
	var rows []struct {
		Outcome string
		Scope   string
		Total   int64
	}
	if err := db.Raw("SELECT outcome, scope, SUM(count) AS total FROM usage_hourly GROUP BY outcome, scope ORDER BY outcome").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var sum int64
	for _, r := range rows {
		got[r.Outcome+"|"+r.Scope] = r.Total
		sum += r.Total
	}
	want := map[string]int64{"allowed|": int64(wantAllowed), "forbidden|billing:write": int64(wantForbidden)}
	if sum != total || len(got) != len(want) || got["allowed|"] != want["allowed|"] || got["forbidden|billing:write"] != want["forbidden|billing:write"] {
		t.Fatalf("usage_hourly after shutdown: %v (sum %d), want %v (sum %d); logs:\n%s", got, sum, want, total, srv.logs)
	}
	var lastUsed []struct{ LastUsedAt *time.Time }
	if err := db.Raw("SELECT last_used_at FROM api_keys").Scan(&lastUsed).Error; err != nil {
		t.Fatal(err)
	}
	if len(lastUsed) != 1 || lastUsed[0].LastUsedAt == nil || time.Since(*lastUsed[0].LastUsedAt) > time.Minute {
		t.Fatalf("api_keys.last_used_at after shutdown: %+v, want about now", lastUsed)
	}

	list := listKeysJSON(t, getenv)
	if len(list) != 1 || list[0]["requests_24h"] != float64(total) || list[0]["last_used_at"] == nil {
		t.Fatalf("keys list --json: %v, want requests_24h %d and last_used_at set", list, total)
	}
}

func TestDatabaseDownAndBack(t *testing.T) {
	dsn, _ := storetest.SchemaURL(t)
	proxy, via := faultproxy.InFront(t, dsn)
	getenv := env(t, map[string]string{"KEYPLANE_ADDR": "127.0.0.1:0", "DATABASE_URL": via, "KEYPLANE_SESSION_SECRET": testSessionSecret, "KEYPLANE_ENCRYPTION_KEY": testSessionSecret})
	keys := createOrgWithKeys(t, getenv, "A", "B")
	keyA, keyB := keys[0], keys[1]

	srv := startServer(t, getenv)
	client := &http.Client{Timeout: 5 * time.Second}
	waitForKeyChangeListener(t, srv, client)

	verifyKey := func(key string) (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		status, body, err := srv.get(client, "/v1/auth", "X-Api-Key", key)
		if err != nil {
			t.Fatalf("/v1/auth: %v (after %v); logs:\n%s", err, time.Since(start), srv.logs)
		}
		return status, errorCode(body), time.Since(start)
	}
	statusOf := func(path string) int {
		t.Helper()
		status, _, err := srv.get(client, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return status
	}

	allowedA, allowedB := 0, 0
	if status, code, _ := verifyKey(keyA); status != http.StatusOK {
		t.Fatalf("key A while the database is up: %d %s", status, code)
	}
	allowedA++
	if status := statusOf("/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz while the database is up: %d", status)
	}

	proxy.Cut() // every connection dropped, new ones refused
	downAt := time.Now()
	for i := 0; i < 3; i++ {
		if status, code, took := verifyKey(keyA); status != http.StatusOK {
			t.Fatalf("cached key A while the database is down: %d %s (in %v), want 200", status, code, took)
		}
		allowedA++
		status, code, took := verifyKey(keyB)
		if status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Fatalf("uncached key B while the database is down: %d %q, want 503 unavailable", status, code)
		}
		if took > time.Second { // loose for a loaded machine; the figure below is the measure
			t.Errorf("uncached key B took %v to fail while the database is down (target: within 250 ms)", took)
		}
	}
	if status := statusOf("/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while the database is down: %d, want 503", status)
	}
	if status := statusOf("/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz while the database is down: %d, want 200", status)
	}

	// A database that stops answering, rather than refusing, costs an
	// uncached key a bounded wait, not a hung request.
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	proxy.Blackhole()
	if status, code, took := verifyKey(keyA); status != http.StatusOK || took > time.Second {
		t.Fatalf("cached key A while the database hangs: %d %s in %v, want 200 at once", status, code, took)
	}
	allowedA++
	status, code, took := verifyKey(keyB)
	if status != http.StatusServiceUnavailable || code != "unavailable" || took > time.Second {
		t.Fatalf("uncached key B while the database hangs: %d %q in %v, want 503 unavailable within 250 ms", status, code, took)
	}
	t.Logf("figure: keyplane serve: uncached key answered 503 in %v while the database hung", took.Round(time.Millisecond))
	if status := statusOf("/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while the database hangs: %d, want 503", status)
	}
	if time.Since(downAt) > 20*time.Second {
		t.Fatalf("the outage checks took %v, past the key cache TTL; they prove nothing", time.Since(downAt))
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	var bStatus, readyStatus int
	var bCode string
	for time.Since(upAt) < 10*time.Second {
		if bStatus != http.StatusOK {
			bStatus, bCode, _ = verifyKey(keyB)
			if bStatus == http.StatusOK {
				allowedB++
			}
		}
		if readyStatus != http.StatusOK {
			readyStatus = statusOf("/readyz")
		}
		if bStatus == http.StatusOK && readyStatus == http.StatusOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if bStatus != http.StatusOK || readyStatus != http.StatusOK {
		t.Fatalf("10s after the database came back: key B %d %s, /readyz %d; want both 200; logs:\n%s", bStatus, bCode, readyStatus, srv.logs)
	}
	t.Logf("figure: keyplane serve: uncached key and /readyz recovered %v after the database came back (target: within 1 s)", time.Since(upAt).Round(time.Millisecond))
	if status, code, _ := verifyKey(keyA); status != http.StatusOK {
		t.Fatalf("key A after recovery: %d %s", status, code)
	}
	allowedA++
	client.CloseIdleConnections()
	srv.stop(t)

	// No count was lost to the outage.
	list := listKeysJSON(t, getenv)
	got := map[string]any{}
	for _, k := range list {
		got[k["description"].(string)] = k["requests_24h"]
	}
	if got["A"] != float64(allowedA) || got["B"] != float64(allowedB) {
		t.Fatalf("requests_24h after the outage: %v, want A %d and B %d", got, allowedA, allowedB)
	}
}

// waitForKeyChangeListener waits until the server hears key changes
// (/readyz says so): its listener's first connection empties the key cache,
// which must not happen after key A is cached.
func waitForKeyChangeListener(t *testing.T, srv *testServer, client *http.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _, err := srv.get(client, "/readyz"); err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not hear key changes within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
