package audit_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestBrowse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := audit.NewService(db, nil)
		acme := insertOrg(t, db, "acme")
		empty := insertOrg(t, db, "empty")
		seed(t, db, acme, time.Date(2030, time.March, 4, 0, 0, 0, 0, time.UTC), 5)

		l, err := svc.Browse(ctx, empty, audit.Filter{}, audit.Page{Size: 2}, 10)
		if err != nil || l.AnyEvents || len(l.Events) != 0 || len(l.Actors) != 0 {
			t.Fatalf("Browse(empty org) = %+v, %v; want nothing", l, err)
		}

		l, err = svc.Browse(ctx, acme, audit.Filter{}, audit.Page{Size: 2}, 10)
		if err != nil || !l.AnyEvents || !slices.Equal(summariesOf(l.Events), []string{"e4", "e3"}) || l.Older == nil || l.Newer != nil {
			t.Fatalf("Browse first page = %v (older %v, newer %v), %v", summariesOf(l.Events), l.Older, l.Newer, err)
		}
		if !slices.Equal(l.Actors, []string{"Bob_100%@example.com", "alice@example.com"}) {
			t.Errorf("actors = %v", l.Actors)
		}

		// Without actors asked for, none are read.
		l, err = svc.Browse(ctx, acme, audit.Filter{Action: "no.such"}, audit.Page{Size: 2}, 0)
		if err != nil || !l.AnyEvents || len(l.Events) != 0 || l.Actors != nil {
			t.Fatalf("Browse(no match) = %+v, %v; want no events, AnyEvents, no actors", l, err)
		}

		// A newer page past the newest event falls back to the newest page.
		future := audit.Cursor{At: time.Date(2031, time.January, 1, 0, 0, 0, 0, time.UTC), ID: store.NewID()}
		l, err = svc.Browse(ctx, acme, audit.Filter{}, audit.Page{Size: 2, After: &future}, 0)
		if err != nil || !slices.Equal(summariesOf(l.Events), []string{"e4", "e3"}) {
			t.Fatalf("Browse(after the newest) = %v, %v; want the newest page", summariesOf(l.Events), err)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	c := audit.Cursor{At: time.Date(2030, time.March, 4, 5, 6, 7, 891000000, time.UTC), ID: store.NewID()}
	got, ok := audit.ParseCursor(c.String())
	if !ok || got != c {
		t.Fatalf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, ok, c)
	}
	for _, bad := range []string{"", "x", "2030-03-04T05:06:07Z", "2030-03-04T05:06:07Z_nope", "yesterday_" + c.ID, c.String() + "x", strings.ToUpper(c.String())} {
		if _, ok := audit.ParseCursor(bad); ok {
			t.Errorf("ParseCursor(%q) = ok", bad)
		}
	}
}
