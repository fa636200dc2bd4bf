package verify

import (
	"context"
	"testing"

	"keyplane/internal/apikey"
)

// hashesQuerier answers the key set's rebuild with hashes, calling during
// (when set) in the middle of the read.
type hashesQuerier struct {
	hashes [][]byte
	during func()
}

func (q hashesQuerier) QueryRow(context.Context, string, any) error { return nil }

func (q hashesQuerier) Each(_ context.Context, _ string, _ []any, fn func(scan func(...any) error) error) error {
	for i, h := range q.hashes {
		if i == len(q.hashes)/2 && q.during != nil {
			q.during()
		}
		err := fn(func(dest ...any) error { *(dest[0].(*[]byte)) = h; return nil })
		if err != nil {
			return err
		}
	}
	return nil
}

// TestBulkChange: after an import's notice, a key cached as unknown is
// found, and the key set is read again before it refuses anything without
// a read; a rebuild that overlapped the import does not count.
func TestBulkChange(t *testing.T) {
	f := newFixture(t, Options{})
	f.v.listening.Store(true)
	known := f.add(t, nil)
	imported := wellFormedUnknown(t)
	if res := f.verify(Request{Key: imported}); res.Code != CodeUnauthorized {
		t.Fatalf("before the import: %+v", res)
	}
	q := hashesQuerier{hashes: [][]byte{apikey.Hash(known), apikey.Hash(wellFormedUnknown(t))}}
	if err := f.v.rebuildKeySet(context.Background(), q); err != nil || !f.v.keys.current.Load() {
		t.Fatalf("rebuild: %v, current %v", err, f.v.keys.current.Load())
	}

	// The import: the key is stored, one notice arrives.
	f.store.put(imported, &Key{ID: "imported", OrgID: "org-1", Kind: apikey.Private, Environment: apikey.Live})
	f.v.Invalidate(apikey.BulkChange)
	if f.v.keys.current.Load() {
		t.Fatal("the key set is still current after an import")
	}
	if res := f.verify(Request{Key: imported}); !res.Allowed {
		t.Fatalf("an imported key cached as unknown: %+v", res)
	}

	// A rebuild whose read overlapped another import is not trusted.
	q.hashes = append(q.hashes, apikey.Hash(imported))
	q.during = func() { f.v.Invalidate(apikey.BulkChange) }
	if err := f.v.rebuildKeySet(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if f.v.keys.built.Load() || f.v.keys.current.Load() {
		t.Error("a rebuild that overlapped an import counts as built")
	}
	q.during = nil
	if err := f.v.rebuildKeySet(context.Background(), q); err != nil || !f.v.keys.current.Load() {
		t.Errorf("the next rebuild: %v, current %v", err, f.v.keys.current.Load())
	}
}

// TestAllChange: a notice that any key may have changed (an organization
// disabled) drops every cached key, so the next verification reads it.
func TestAllChange(t *testing.T) {
	f := newFixture(t, Options{})
	k := f.add(t, nil)
	f.verify(Request{Key: k})
	f.v.Invalidate(apikey.AllChange)
	f.verify(Request{Key: k})
	if n := f.store.readsOf(k); n != 2 {
		t.Errorf("key read %d times, want 2 (once more after the notice)", n)
	}
}
