package apikey

import (
	"context"
	"strings"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestListSearch: a search finds a key by description in any case, by its
// hint or any part of it (the visible ending, the prefix), by its id or an
// id prefix, and by the whole key; never another organization's key.
func TestListSearch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		billing := f.create(t, Input{Description: "Billing backend", Kind: "private", Environment: "live"})
		staging := f.create(t, Input{Description: "Ünïcode Staging", Kind: "private", Environment: "test"})
		other, err := f.svc.Create(ctx, f.other, store.NewID(), Input{Description: "Billing backend", Kind: "private", Environment: "live"}, f.otherActor)
		if err != nil {
			t.Fatal(err)
		}
		search := func(term string) []string {
			t.Helper()
			list, err := f.svc.List(ctx, f.org, Filter{Search: term})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range list {
				ids = append(ids, k.ID)
			}
			return ids
		}
		one := func(term string, want Created) {
			t.Helper()
			if got := search(term); len(got) != 1 || got[0] != want.Key.ID {
				t.Errorf("search %q found %v, want only %s (%s)", term, got, want.Key.ID, want.Key.Description)
			}
		}
		ending := billing.Key.Hint[len(billing.Key.Hint)-4:]
		one(ending, billing)
		one("  "+ending+" ", billing)
		one(billing.Key.Hint, billing)
		one(strings.Replace(billing.Key.Hint, "…", "...", 1), billing)
		one(billing.Secret, billing)
		one(billing.Key.ID, billing)
		one(strings.ToUpper(billing.Key.ID[:24]), billing) // past the millisecond both ids may share
		one("billing", billing)
		one("ÜNÏCODE", staging)
		one("kp_sk_test", staging)
		if got := search("kp_sk_"); len(got) != 2 {
			t.Errorf("the shared prefix found %v, want both keys", got)
		}
		if got := search(billing.Key.ID[:4]); len(got) != 0 && !strings.Contains(strings.ToLower(billing.Key.Hint+staging.Key.Hint), strings.ToLower(billing.Key.ID[:4])) {
			t.Errorf("a 4-character id prefix matched %v", got)
		}
		for _, term := range []string{other.Key.ID, other.Secret, "nothing like it"} {
			if got := search(term); len(got) != 0 {
				t.Errorf("search %q found %v", term, got)
			}
		}
	})
}
