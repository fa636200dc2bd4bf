package usage

import (
	"bytes"
	"context"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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

// newRecorderIn is a quiet recorder replaying from dir.
func newRecorderIn(db *store.DB, dir string) *Recorder {
	r := NewRecorder(db, quietLogger, nil)
	r.SpillDir = dir
	return r
}
