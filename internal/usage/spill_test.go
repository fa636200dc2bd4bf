package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keyplane/internal/faultproxy"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// faulty is a database a test can take away and give back: the recorder
// writes to db; the test reads through direct, which always works.
type faulty struct {
	db, direct *store.DB
	proxy      *faultproxy.Proxy // PostgreSQL only
	down, up   func()
}

// eachFaulty runs fn on SQLite, where "down" renames usage_hourly away so
// every write fails, and on PostgreSQL reached through a fault proxy,
// where "down" cuts the proxy (connections dropped, new ones refused).
func eachFaulty(t *testing.T, fn func(t *testing.T, f *faulty)) {
	t.Run("sqlite", func(t *testing.T) {
		db := storetest.SQLite(t)
		exec := func(q string) {
			t.Helper()
			if err := db.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		fn(t, &faulty{db: db, direct: db,
			down: func() { exec("ALTER TABLE usage_hourly RENAME TO usage_hourly_away") },
			up:   func() { exec("ALTER TABLE usage_hourly_away RENAME TO usage_hourly") },
		})
	})
	t.Run("postgres", func(t *testing.T) {
		f := proxiedPostgres(t)
		fn(t, f)
	})
}

// proxiedPostgres opens a fresh schema of the shared server twice:
// through a fault proxy, and directly.
func proxiedPostgres(t *testing.T) *faulty {
	t.Helper()
	dsn, _ := storetest.SchemaURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DatabaseURL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	direct, err := store.Open(ctx, store.Options{DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	return &faulty{db: db, direct: direct, proxy: proxy,
		down: proxy.Cut,
		up: func() {
			if err := proxy.Restore(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// spillWorkload records 1000 counts and one latest use of key 0, and
// returns the counts and that use.
func spillWorkload(f *fixture, r *Recorder) (map[bucket]int64, time.Time) {
	want := map[bucket]int64{}
	f.recordMany(r, 1000, 0, want)
	latest := base.Add(3*time.Hour + 123456*time.Microsecond)
	r.Record(f.keys[0], f.orgID, latest, "allowed", "", netip.MustParseAddr("2001:db8::7"), "https://app.example.com")
	want[bucket{f.keys[0], latest.Truncate(time.Hour).Unix(), "allowed", ""}]++
	return want, latest
}

var spillName = regexp.MustCompile(`^usage-spill-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.json$`)

// dirFiles returns the names of the files in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// oneSpill expects dir to hold exactly one complete spill file, with mode
// 0600, and returns its path.
func oneSpill(t *testing.T, dir string) string {
	t.Helper()
	names := dirFiles(t, dir)
	if len(names) != 1 || !spillName.MatchString(names[0]) {
		t.Fatalf("spill dir holds %q, want one usage-spill-<uuid>.json", names)
	}
	path := filepath.Join(dir, names[0])
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("spill file mode %v, want 0600", st.Mode().Perm())
	}
	return path
}

// spilledCounts reads a spill file as counts per bucket.
func spilledCounts(t *testing.T, path string) (map[bucket]int64, batch) {
	t.Helper()
	_, b, err := readSpill(path)
	if err != nil {
		t.Fatalf("read spill file: %v", err)
	}
	out := map[bucket]int64{}
	for k, n := range b.counts {
		out[bucket{k.keyID, k.hour, k.outcome, k.scope}] += n
	}
	return out, b
}

// keyHourTotal is the sum of the key-hour roll-up, which only Write fills.
func keyHourTotal(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Raw("SELECT COALESCE(SUM(count), 0) FROM usage_key_hours").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func spillIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	var ids []string
	if err := db.Table("usage_spills").Order("id").Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func registered(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// spillNow spills what r gathered without trying the database (a final
// flush whose deadline has passed) and returns the file's path.
func spillNow(t *testing.T, r *Recorder) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return oneSpill(t, r.SpillDir)
}

// TestShutdownSpillsWhatTheDatabaseRefuses stops a recorder while the
// database is away: the final flush retries until its deadline, then
// leaves exactly the counts in a spill file, which a later start writes
// once, even if it meets the file again after writing it.
func TestShutdownSpillsWhatTheDatabaseRefuses(t *testing.T) {
	eachFaulty(t, func(t *testing.T, db *faulty) {
		f := newFixture(t, db.direct)
		reg := prometheus.NewRegistry()
		r := NewRecorder(db.db, quietLogger, reg)
		r.SpillDir = filepath.Join(t.TempDir(), "spill") // made on demand
		want, latest := spillWorkload(f, r)

		db.down()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with a spill dir: %v", err)
		}
		took := time.Since(start)
		if took < time.Second || took > 2*time.Second {
			t.Errorf("Shutdown took %v, want it to retry until its 1s deadline and stop there", took)
		}
		if n := counterValue(r.flushErrors); n < 2 {
			t.Errorf("%v failed attempts, want retries", n)
		}
		if r.Pending() != 0 {
			t.Errorf("Pending = %d after spilling", r.Pending())
		}
		path := oneSpill(t, r.SpillDir)
		got, b := spilledCounts(t, path)
		equalCounts(t, got, want)
		if u := b.last[f.keys[0]]; !u.at.Equal(latest) || u.ip.String() != "2001:db8::7" || u.origin != "https://app.example.com" {
			t.Errorf("spilled last use %+v, want %v from 2001:db8::7", u, latest)
		}
		if n := counterValue(r.spilled); n != 1001 {
			t.Errorf("keyplane_usage_spilled_total = %v, want 1001 requests", n)
		}
		if !registered(t, reg, "keyplane_usage_spilled_total") {
			t.Error("keyplane_usage_spilled_total is not registered")
		}
		kept, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}

		// The next start, with the database back, writes the file once.
		db.up()
		if n := len(f.rows(t)); n != 0 {
			t.Fatalf("%d rows written while the database was away", n)
		}
		next := NewRecorder(db.db, quietLogger, nil)
		next.SpillDir = r.SpillDir
		if err := next.Replay(context.Background()); err != nil {
			t.Fatal(err)
		}
		equalCounts(t, f.rows(t), want)
		if n := keyHourTotal(t, db.direct); n != 1001 {
			t.Errorf("key-hour roll-up sums to %d, want 1001", n)
		}
		wantLastUse(t, f.lastUse(t, f.keys[0]), latest, "2001:db8::7", "https://app.example.com")
		if names := dirFiles(t, r.SpillDir); len(names) != 0 {
			t.Fatalf("spill dir holds %q after the replay", names)
		}
		ids := spillIDs(t, db.direct)
		if len(ids) != 1 || !strings.Contains(path, ids[0]) {
			t.Fatalf("usage_spills holds %q, want the id of %s", ids, path)
		}

		// A crash between the commit and the removal leaves the file: the
		// next start removes it without counting it again.
		if err := os.WriteFile(path, kept, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := NewRecorderIn(db.db, r.SpillDir).Replay(context.Background()); err != nil {
			t.Fatal(err)
		}
		equalCounts(t, f.rows(t), want)
		if n := keyHourTotal(t, db.direct); n != 1001 {
			t.Errorf("key-hour roll-up sums to %d after the second replay, want 1001", n)
		}
		if names := dirFiles(t, r.SpillDir); len(names) != 0 {
			t.Fatalf("spill dir holds %q after replaying a written file", names)
		}
	})
}

// NewRecorderIn is a quiet recorder replaying from dir.
func NewRecorderIn(db *store.DB, dir string) *Recorder {
	r := NewRecorder(db, quietLogger, nil)
	r.SpillDir = dir
	return r
}

// TestShutdownSpillsWhenTheDatabaseIsSilent stops a recorder while
// PostgreSQL drops every packet: each attempt ends at its own deadline, the
// shutdown at its own, and a replay while the database is still silent
// keeps the file for later.
func TestShutdownSpillsWhenTheDatabaseIsSilent(t *testing.T) {
	db := proxiedPostgres(t)
	f := newFixture(t, db.direct)
	r := NewRecorderIn(db.db, t.TempDir())
	// A pooled connection, open when the partition starts.
	r.Record(f.keys[1], f.orgID, base, "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := f.rows(t)
	more, latest := spillWorkload(f, r)
	for b, n := range more {
		want[b] += n
	}

	db.proxy.Blackhole()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("Shutdown took %v with a 1.5s deadline", took)
	}
	path := oneSpill(t, r.SpillDir)
	got, _ := spilledCounts(t, path)
	equalCounts(t, got, more)

	// Still silent: the replay gives up at its deadline and keeps the file.
	next := NewRecorderIn(db.db, r.SpillDir)
	rctx, rcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer rcancel()
	if err := next.Replay(rctx); err == nil {
		t.Fatal("replay while the database drops every packet succeeded")
	}
	if p := oneSpill(t, r.SpillDir); p != path {
		t.Fatalf("spill file %s became %s", path, p)
	}

	if err := db.proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := next.Replay(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalCounts(t, f.rows(t), want)
	wantLastUse(t, f.lastUse(t, f.keys[0]), latest, "2001:db8::7", "https://app.example.com")
	if names := dirFiles(t, r.SpillDir); len(names) != 0 {
		t.Fatalf("spill dir holds %q after the replay", names)
	}
}

// TestFinalFlushRetriesUntilTheDatabaseReturns brings the database back
// while the final flush retries: everything is written, nothing spilled.
func TestFinalFlushRetriesUntilTheDatabaseReturns(t *testing.T) {
	eachFaulty(t, func(t *testing.T, db *faulty) {
		f := newFixture(t, db.direct)
		r := NewRecorderIn(db.db, t.TempDir())
		want, latest := spillWorkload(f, r)

		db.down()
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			done <- r.Shutdown(ctx)
		}()
		waitFor(t, "three failed attempts", func() bool { return counterValue(r.flushErrors) >= 3 })
		db.up()
		upAt := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Shutdown did not return")
		}
		t.Logf("down for %v; written %v after the database came back", upAt.Sub(start).Round(time.Millisecond), time.Since(upAt).Round(time.Millisecond))
		if since := time.Since(upAt); since > 2*time.Second {
			t.Errorf("written %v after the database came back, want within the 1s backoff", since)
		}
		if names := dirFiles(t, r.SpillDir); len(names) != 0 {
			t.Fatalf("spill dir holds %q after a final flush that succeeded", names)
		}
		if n := counterValue(r.spilled); n != 0 {
			t.Errorf("keyplane_usage_spilled_total = %v, want 0", n)
		}
		equalCounts(t, f.rows(t), want)
		wantLastUse(t, f.lastUse(t, f.keys[0]), latest, "2001:db8::7", "https://app.example.com")
		if ids := spillIDs(t, db.direct); len(ids) != 1 {
			t.Errorf("usage_spills holds %q, want the final flush's id", ids)
		}
	})
}

// TestFinalFlushOutlivesFrozenConnections freezes the pooled connections
// (a healed partition): an attempt stuck on one ends at its own deadline and
// the next, on a new connection, writes everything before the shutdown
// deadline.
func TestFinalFlushOutlivesFrozenConnections(t *testing.T) {
	db := proxiedPostgres(t)
	f := newFixture(t, db.direct)
	r := NewRecorderIn(db.db, t.TempDir())
	r.Record(f.keys[1], f.orgID, base, "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := f.rows(t)
	more, _ := spillWorkload(f, r)
	for b, n := range more {
		want[b] += n
	}
	if db.proxy.Open() == 0 {
		t.Fatal("no pooled connection to freeze")
	}
	db.proxy.Freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 10*DefaultFinalFlush)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if names := dirFiles(t, r.SpillDir); len(names) != 0 {
		t.Fatalf("spill dir holds %q, want the retry on a new connection to write everything", names)
	}
	equalCounts(t, f.rows(t), want)
	if n := counterValue(r.flushErrors); n < 1 {
		t.Errorf("%v failed attempts: the frozen connection went untested", n)
	}
}

// TestRunReplaysOnceTheDatabaseIsBack starts a recorder with a spill file
// while the database is away: the server's start does not wait for it,
// the file stays, and Run writes it with a later flush tick.
func TestRunReplaysOnceTheDatabaseIsBack(t *testing.T) {
	eachFaulty(t, func(t *testing.T, db *faulty) {
		f := newFixture(t, db.direct)
		dir := t.TempDir()
		old := NewRecorderIn(db.db, dir)
		want, _ := spillWorkload(f, old)
		path := spillNow(t, old)
		kept, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}

		db.down()
		r := NewRecorderIn(db.db, dir)
		if err := r.Replay(context.Background()); err == nil {
			t.Fatal("replay while the database is away succeeded")
		}
		if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, kept) {
			t.Fatalf("spill file changed by a failed replay (%v)", err)
		}
		if ids := spillIDs(t, db.direct); len(ids) != 0 {
			t.Fatalf("a failed replay recorded %q", ids)
		}

		logs := &lockedBuffer{}
		r.logger = slog.New(slog.NewTextHandler(logs, nil))
		r.every = 20 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		// Run's replays at start and at the next tick fail before the
		// database is back.
		waitFor(t, "two failed replays", func() bool { return strings.Count(logs.String(), "spill files kept") >= 2 })
		db.up()
		waitFor(t, "the spill file to be written", func() bool { return len(dirFiles(t, dir)) == 0 })
		equalCounts(t, f.rows(t), want)
	})
}

// TestReplayInterruptedBeforeCommit fails a replay inside its transaction,
// after the id and the hourly counts: nothing of it stays, and the next
// replay writes the file once.
func TestReplayInterruptedBeforeCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorderIn(db, t.TempDir())
		want, _ := spillWorkload(f, r)
		path := spillNow(t, r)

		if err := db.Exec("ALTER TABLE usage_key_days RENAME TO usage_key_days_away").Error; err != nil {
			t.Fatal(err)
		}
		if err := r.Replay(context.Background()); err == nil {
			t.Fatal("replay into a missing roll-up succeeded")
		}
		if len(f.rows(t)) != 0 || len(spillIDs(t, db)) != 0 || keyHourTotal(t, db) != 0 {
			t.Fatal("a replay that failed left rows behind")
		}
		if p := oneSpill(t, r.SpillDir); p != path {
			t.Fatalf("spill file %s became %s", path, p)
		}
		if err := db.Exec("ALTER TABLE usage_key_days_away RENAME TO usage_key_days").Error; err != nil {
			t.Fatal(err)
		}
		if err := r.Replay(context.Background()); err != nil {
			t.Fatal(err)
		}
		equalCounts(t, f.rows(t), want)
		if len(dirFiles(t, r.SpillDir)) != 0 {
			t.Fatal("spill file kept after its replay")
		}
	})
}

// TestReplayMovesBadFilesAside: a file that cannot be read as a spill is
// renamed with ".bad", unchanged, and nothing of it is written; good files
// beside it are replayed; other files are left alone.
func TestReplayMovesBadFilesAside(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		dir := t.TempDir()
		r := NewRecorderIn(db, dir)
		want, _ := spillWorkload(f, r)
		good := spillNow(t, r)
		valid, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		edit := func(change func(m map[string]any)) []byte {
			var m map[string]any
			if err := json.Unmarshal(valid, &m); err != nil {
				t.Fatal(err)
			}
			change(m)
			out, _ := json.Marshal(m)
			return out
		}
		bad := map[string][]byte{
			"garbage":     []byte("{not json"),
			"truncated":   valid[:len(valid)/2],
			"empty":       nil,
			"trailing":    append(append([]byte{}, valid...), []byte(`{"more":1}`)...),
			"version":     edit(func(m map[string]any) { m["version"] = 2 }),
			"id":          edit(func(m map[string]any) { m["id"] = "../../etc" }),
			"negative":    edit(func(m map[string]any) { m["counts"].([]any)[0].(map[string]any)["count"] = -5 }),
			"hour":        edit(func(m map[string]any) { m["counts"].([]any)[0].(map[string]any)["hour"] = "2030-05-06T10:30:00Z" }),
			"key":         edit(func(m map[string]any) { m["counts"].([]any)[0].(map[string]any)["key_id"] = "not-a-key" }),
			"last_use_ip": edit(func(m map[string]any) { m["last_used"].([]any)[0].(map[string]any)["ip"] = "300.1.1.1" }),
		}
		for name, data := range bad {
			if err := os.WriteFile(filepath.Join(dir, spillPrefix+name+spillSuffix), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		others := []string{"notes.txt", ".usage-spill-123.tmp", "usage-spill-old.json.bad"}
		for _, name := range others {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, spillPrefix+"dir"+spillSuffix), 0o700); err != nil {
			t.Fatal(err)
		}

		for range 2 { // the second replay finds nothing new to do
			if err := r.Replay(context.Background()); err != nil {
				t.Fatal(err)
			}
			equalCounts(t, f.rows(t), want)
		}
		wantNames := slices.Clone(others)
		wantNames = append(wantNames, spillPrefix+"dir"+spillSuffix)
		for name, data := range bad {
			p := filepath.Join(dir, spillPrefix+name+spillSuffix+badSuffix)
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s: moved aside as %v, %v; want its bytes unchanged", name, len(got), err)
			}
			wantNames = append(wantNames, filepath.Base(p))
		}
		slices.Sort(wantNames)
		if got := dirFiles(t, dir); !slices.Equal(got, wantNames) {
			t.Errorf("spill dir holds\n %q\nwant\n %q", got, wantNames)
		}
		if ids := spillIDs(t, db); len(ids) != 1 {
			t.Errorf("usage_spills holds %q, want only the good file's id", ids)
		}
	})
}

// TestReplayDropsKeysTheDatabaseDoesNotHold: a spill file brought to
// another database writes the counts of the keys it holds and is done.
func TestReplayDropsKeysTheDatabaseDoesNotHold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		dir := t.TempDir()
		r := NewRecorderIn(db, dir)
		want := map[bucket]int64{}
		f.recordMany(r, 90, 0, want)
		stranger := store.NewID()
		r.Record(stranger, f.orgID, base, "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
		spillNow(t, r)
		if err := r.Replay(context.Background()); err != nil {
			t.Fatal(err)
		}
		equalCounts(t, f.rows(t), want)
		if names := dirFiles(t, dir); len(names) != 0 {
			t.Fatalf("spill dir holds %q", names)
		}
	})
}

// TestShutdownWithoutSpillDirKeepsCounts: with nowhere to spill, the final
// flush reports the loss and keeps the counts in memory.
func TestShutdownWithoutSpillDirKeepsCounts(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	r := NewRecorder(db, quietLogger, nil)
	want := map[bucket]int64{}
	f.recordMany(r, 50, 0, want)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown without a spill dir or a database reported no loss")
	}
	if r.Pending() != len(want) {
		t.Fatalf("Pending = %d, want %d counters kept", r.Pending(), len(want))
	}
	if err := r.Replay(context.Background()); err != nil {
		t.Fatalf("Replay without a spill dir: %v", err)
	}
}
