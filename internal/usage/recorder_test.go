package usage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is an organization with three keys on a real database.
type fixture struct {
	db    *store.DB
	orgID string
	keys  []string
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	u, err := account.NewService(db, nil, account.WithHashParams(account.TestHashParams)).CreateUser(ctx, account.NewUser{Email: "u@example.com", Name: "U", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := org.NewService(db, nil).Create(ctx, "Acme", "acme", u.ID, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	svc := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100})
	f := &fixture{db: db, orgID: o.ID}
	for i := range 3 {
		c, err := svc.Create(ctx, o.ID, "", apikey.Input{Description: fmt.Sprintf("key %d", i), Kind: "private", Environment: "live"}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		f.keys = append(f.keys, c.Key.ID)
	}
	return f
}

// bucket names one usage_hourly row.
type bucket struct {
	key     string
	hour    int64
	outcome string
	scope   string
}

// rows reads usage_hourly as counts per bucket.
func (f *fixture) rows(t *testing.T) map[bucket]int64 {
	t.Helper()
	var rows []Hourly
	if err := f.db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[bucket]int64{}
	for _, r := range rows {
		if r.OrgID != f.orgID {
			t.Errorf("row of org %s, want %s", r.OrgID, f.orgID)
		}
		b := bucket{r.KeyID, r.Hour.UTC().Unix(), r.Outcome, r.Scope}
		if _, dup := out[b]; dup {
			t.Errorf("two rows for %+v", b)
		}
		out[b] = r.Count
	}
	return out
}

func equalCounts(t *testing.T, got, want map[bucket]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	for b, n := range want {
		if got[b] != n {
			t.Errorf("%+v: count %d, want %d", b, got[b], n)
		}
	}
	for b := range got {
		if _, ok := want[b]; !ok {
			t.Errorf("unexpected row %+v", b)
		}
	}
}

var (
	base     = time.Date(2030, 5, 6, 10, 0, 0, 0, time.UTC)
	outcomes = []string{"allowed", "rate_limited", "forbidden"}
	scopes   = []string{"", "sms:send", "sms:send reports:read"}
)

// recordMany records n outcomes spread over keys, three hours, outcomes and
// scopes, and adds them to want.
func (f *fixture) recordMany(r *Recorder, n, seed int, want map[bucket]int64) {
	for i := range n {
		j := i + seed
		key := f.keys[j%len(f.keys)]
		at := base.Add(time.Duration(j%3)*time.Hour + time.Duration(j*7919%3600)*time.Second)
		outcome := outcomes[(j/3)%len(outcomes)]
		scope := scopes[(j/9)%len(scopes)]
		r.Record(key, f.orgID, at, outcome, scope, netip.MustParseAddr("192.0.2.1"), "")
		hour := at.Truncate(time.Hour).Unix()
		want[bucket{key, hour, outcome, scope}]++
	}
}

func total(m map[bucket]int64) int64 {
	var n int64
	for _, c := range m {
		n += c
	}
	return n
}

func TestFlushSumsPerBucket(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		want := map[bucket]int64{}
		f.recordMany(r, 1000, 0, want)
		if p := r.Pending(); p != len(want) {
			t.Fatalf("Pending = %d, want %d counters", p, len(want))
		}
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p := r.Pending(); p != 0 {
			t.Fatalf("Pending after flush = %d", p)
		}
		got := f.rows(t)
		equalCounts(t, got, want)
		if n := total(got); n != 1000 {
			t.Fatalf("rows sum to %d, want 1000", n)
		}

		// A second flush adds to the rows it meets.
		f.recordMany(r, 500, 7, want)
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = f.rows(t)
		equalCounts(t, got, want)
		if n := total(got); n != 1500 {
			t.Fatalf("rows sum to %d after the second flush, want 1500", n)
		}
		// Nothing pending: a flush writes nothing.
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := total(f.rows(t)); n != 1500 {
			t.Fatalf("an empty flush changed the sum to %d", n)
		}
	})
}

type storedUse struct {
	At     *time.Time
	IP     string
	Origin string
}

func (f *fixture) lastUse(t *testing.T, keyID string) storedUse {
	t.Helper()
	var k apikey.Key
	if err := f.db.Where("id = ?", keyID).Take(&k).Error; err != nil {
		t.Fatal(err)
	}
	return storedUse{At: k.LastUsedAt, IP: k.LastUsedIP, Origin: k.LastUsedOrigin}
}

func wantLastUse(t *testing.T, got storedUse, at time.Time, ip, origin string) {
	t.Helper()
	if got.At == nil || !got.At.Equal(at) || got.IP != ip || got.Origin != origin {
		gotAt := "nil"
		if got.At != nil {
			gotAt = got.At.UTC().Format(time.RFC3339Nano)
		}
		t.Fatalf("last use %s %q %q, want %s %q %q", gotAt, got.IP, got.Origin, at.Format(time.RFC3339Nano), ip, origin)
	}
}

func TestLastUseMovesOnlyForward(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		ctx := context.Background()
		k := f.keys[0]
		t1 := base.Add(90*time.Minute + 123456*time.Microsecond)

		// In one batch, the latest use wins whatever the order.
		r.Record(k, f.orgID, t1, "allowed", "", netip.MustParseAddr("192.0.2.10"), "https://app.example.com")
		r.Record(k, f.orgID, t1.Add(-time.Minute), "allowed", "", netip.MustParseAddr("192.0.2.9"), "https://old.example.com")
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantLastUse(t, f.lastUse(t, k), t1, "192.0.2.10", "https://app.example.com")
		if u := f.lastUse(t, f.keys[1]); u.At != nil || u.IP != "" {
			t.Fatalf("an unused key got a last use: %+v", u)
		}

		// An older use in a later flush does not move it back.
		r.Record(k, f.orgID, t1.Add(-time.Hour), "allowed", "", netip.MustParseAddr("2001:db8::1"), "")
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantLastUse(t, f.lastUse(t, k), t1, "192.0.2.10", "https://app.example.com")

		// A newer one does; refusals count as use too.
		t2 := t1.Add(time.Second)
		r.Record(k, f.orgID, t2, "ip_not_allowed", "", netip.MustParseAddr("2001:db8::2"), "")
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantLastUse(t, f.lastUse(t, k), t2, "2001:db8::2", "")

		// A very long origin is cut, not an error.
		long := "https://" + strings.Repeat("a", 400) + ".example.com"
		r.Record(k, f.orgID, t2.Add(time.Second), "allowed", "", netip.MustParseAddr("192.0.2.1"), long)
		if err := r.Flush(ctx); err != nil {
			t.Fatalf("flush with a long origin: %v", err)
		}
		if u := f.lastUse(t, k); len(u.Origin) != 300 {
			t.Fatalf("stored origin of %d bytes, want 300", len(u.Origin))
		}
	})
}

func TestFailedFlushKeepsCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		ctx := context.Background()
		want := map[bucket]int64{}
		f.recordMany(r, 300, 0, want)
		t1 := base.Add(2*time.Hour + 30*time.Minute)
		r.Record(f.keys[0], f.orgID, t1, "allowed", "", netip.MustParseAddr("192.0.2.77"), "")
		want[bucket{f.keys[0], t1.Truncate(time.Hour).Unix(), "allowed", ""}]++

		// Break the table: the flush fails and keeps everything.
		if err := db.Exec("ALTER TABLE usage_hourly RENAME TO usage_hourly_away").Error; err != nil {
			t.Fatal(err)
		}
		pending := r.Pending()
		if err := r.Flush(ctx); err == nil {
			t.Fatal("flush into a missing table succeeded")
		}
		if r.Pending() != pending {
			t.Fatalf("Pending %d after a failed flush, want %d", r.Pending(), pending)
		}
		// More arrives meanwhile, into the same buckets and new ones.
		f.recordMany(r, 200, 3, want)
		if err := r.Flush(ctx); err == nil {
			t.Fatal("second flush into a missing table succeeded")
		}
		if err := db.Exec("ALTER TABLE usage_hourly_away RENAME TO usage_hourly").Error; err != nil {
			t.Fatal(err)
		}
		if u := f.lastUse(t, f.keys[0]); u.At != nil {
			t.Fatalf("a failed flush wrote the last use: %+v", u)
		}

		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := f.rows(t)
		equalCounts(t, got, want)
		if n := total(got); n != 501 {
			t.Fatalf("rows sum to %d, want 501", n)
		}
		wantLastUse(t, f.lastUse(t, f.keys[0]), t1, "192.0.2.77", "")
	})
}

func TestFlushOnClosedDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		// Another database of the same dialect, closed before the flush.
		closed := storetest.SQLite(t)
		if db.Dialect == store.Postgres {
			closed = storetest.Postgres(t)
		}
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		r := NewRecorder(closed, quietLogger, nil)
		r.Record(f.keys[0], f.orgID, base, "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
		r.Record(f.keys[1], f.orgID, base, "forbidden", "x", netip.MustParseAddr("192.0.2.1"), "")
		for range 2 {
			if err := r.Flush(context.Background()); err == nil {
				t.Fatal("flush on a closed database succeeded")
			}
			if r.Pending() != 2 {
				t.Fatalf("Pending = %d after a failed flush, want 2", r.Pending())
			}
		}
	})
}

func TestRunFlushesOnCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		want := map[bucket]int64{}
		f.recordMany(r, 250, 0, want)
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		got := f.rows(t)
		equalCounts(t, got, want)
		if n := total(got); n != 250 {
			t.Fatalf("rows sum to %d after Run ended, want 250", n)
		}
		if r.Pending() != 0 {
			t.Fatalf("Pending = %d after the final flush", r.Pending())
		}
	})
}

// TestConcurrentRecordAndFlush loses nothing when requests are counted
// while flushes run.
func TestConcurrentRecordAndFlush(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 500 {
					r.Record(f.keys[(g+i)%3], f.orgID, base.Add(time.Duration(i)*time.Second), "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
				}
			}()
		}
		stop := make(chan struct{})
		flushed := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					flushed <- nil
					return
				default:
				}
				if err := r.Flush(ctx); err != nil {
					flushed <- err
					return
				}
			}
		}()
		wg.Wait()
		close(stop)
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := total(f.rows(t)); n != 2000 {
			t.Fatalf("rows sum to %d, want 2000", n)
		}
	})
}
