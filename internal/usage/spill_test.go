package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestRunReplaysOnceTheDatabaseIsBack starts a recorder with a spill file
// while the database is away: the server's start does not wait for it,
// the file stays, and Run writes it with a later flush tick.
func TestRunReplaysOnceTheDatabaseIsBack(t *testing.T) {
	eachFaulty(t, func(t *testing.T, db *faulty) {
		f := newFixture(t, db.direct)
		dir := t.TempDir()
		old := newRecorderIn(db.db, dir)
		want, _ := spillWorkload(f, old)
		path := spillNow(t, old)
		kept, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}

		db.down()
		r := newRecorderIn(db.db, dir)
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
		r := newRecorderIn(db, t.TempDir())
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
		r := newRecorderIn(db, dir)
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
		r := newRecorderIn(db, dir)
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

// TestCheckSpillDir: the dir is made when missing, refused when it cannot
// hold files, and cleared of temporary files a killed shutdown left.
func TestCheckSpillDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	if err := CheckSpillDir(dir); err != nil {
		t.Fatalf("a missing dir: %v", err)
	}
	left := filepath.Join(dir, "."+spillPrefix+"123.tmp")
	kept := filepath.Join(dir, spillPrefix+"0195d3f0-0000-7000-8000-000000000000"+spillSuffix)
	for _, p := range []string{left, kept} {
		if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckSpillDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("a leftover temporary file is still there: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a spill file was removed: %v", err)
	}
	if err := CheckSpillDir(filepath.Join(kept, "sub")); err == nil {
		t.Error("a dir under a file was accepted")
	}
}
