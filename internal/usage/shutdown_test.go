package usage

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keyplane/internal/store/storetest"
)

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
		if err := newRecorderIn(db.db, r.SpillDir).Replay(context.Background()); err != nil {
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

// TestShutdownSpillsWhenTheDatabaseIsSilent stops a recorder while
// PostgreSQL drops every packet: each attempt ends at its own deadline, the
// shutdown at its own, and a replay while the database is still silent
// keeps the file for later.
func TestShutdownSpillsWhenTheDatabaseIsSilent(t *testing.T) {
	db := proxiedPostgres(t)
	f := newFixture(t, db.direct)
	r := newRecorderIn(db.db, t.TempDir())
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
	next := newRecorderIn(db.db, r.SpillDir)
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
		r := newRecorderIn(db.db, t.TempDir())
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
	r := newRecorderIn(db.db, t.TempDir())
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
