package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestRecordUsesCallersTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		orgID := insertOrg(t, db, "acme")
		at := time.Date(2001, time.February, 3, 4, 5, 6, 789000000, time.FixedZone("X", 3600))
		if err := audit.Record(ctx, db.DB, at, orgID, audit.Actor{}, audit.KeyCreated, "", "", "s"); err != nil {
			t.Fatalf("Record: %v", err)
		}
		events, err := audit.List(ctx, db.DB, orgID, 1)
		if err != nil || len(events) != 1 {
			t.Fatalf("List = %v, %v", events, err)
		}
		if !events[0].CreatedAt.Equal(at) {
			t.Errorf("created at %v, want %v", events[0].CreatedAt, at)
		}
	})
}

// seed records n events in orgID, one a minute from start, alternating
// between two actors and two actions; summaries are "e0", "e1", ...
func seed(t *testing.T, db *store.DB, orgID string, start time.Time, n int) {
	t.Helper()
	for i := range n {
		actor := audit.Actor{Email: "alice@example.com"}
		action := audit.KeyCreated
		if i%2 == 1 {
			actor.Email, action = "Bob_100%@example.com", audit.LoginFailed
		}
		if err := audit.Record(context.Background(), db.DB, start.Add(time.Duration(i)*time.Minute), orgID, actor, action, "", "", fmt.Sprintf("e%d", i)); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
}

func summariesOf(events []audit.Event) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.Summary)
	}
	return out
}

func TestSearchFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := audit.NewService(db, nil)
		acme := insertOrg(t, db, "acme")
		other := insertOrg(t, db, "other")
		// 2030-03-03 23:58 .. 2030-03-04 00:03: e0, e1 on the 3rd, e2..e5 on the 4th.
		start := time.Date(2030, time.March, 3, 23, 58, 0, 0, time.UTC)
		seed(t, db, acme, start, 6)
		seed(t, db, other, start, 6)
		day := func(d int) time.Time { return time.Date(2030, time.March, d, 0, 0, 0, 0, time.UTC) }
		for _, tt := range []struct {
			name string
			f    audit.Filter
			want []string
		}{
			{"all", audit.Filter{}, []string{"e5", "e4", "e3", "e2", "e1", "e0"}},
			{"action", audit.Filter{Action: audit.LoginFailed}, []string{"e5", "e3", "e1"}},
			{"actor substring, any case", audit.Filter{Actor: "ALICE"}, []string{"e4", "e2", "e0"}},
			{"actor with LIKE wildcards taken literally", audit.Filter{Actor: "_100%"}, []string{"e5", "e3", "e1"}},
			{"wildcard alone matches nothing", audit.Filter{Actor: "%x"}, []string{}},
			{"from a day", audit.Filter{From: day(4)}, []string{"e5", "e4", "e3", "e2"}},
			{"to a day", audit.Filter{To: day(4)}, []string{"e1", "e0"}},
			{"combined", audit.Filter{Action: audit.KeyCreated, From: day(4), To: day(5)}, []string{"e4", "e2"}},
		} {
			res, err := svc.Search(ctx, acme, tt.f, audit.Page{Size: 50})
			if err != nil {
				t.Fatalf("%s: Search: %v", tt.name, err)
			}
			if got := summariesOf(res.Events); !slices.Equal(got, tt.want) {
				t.Errorf("%s: Search = %v, want %v", tt.name, got, tt.want)
			}
			if res.Older != nil || res.Newer != nil {
				t.Errorf("%s: one page has neighbours: older %v, newer %v", tt.name, res.Older, res.Newer)
			}
		}
		actors, err := svc.Actors(ctx, acme, 10)
		if err != nil || !slices.Equal(actors, []string{"Bob_100%@example.com", "alice@example.com"}) {
			t.Errorf("Actors = %v, %v", actors, err)
		}
	})
}

func TestSearchPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := audit.NewService(db, nil)
		acme := insertOrg(t, db, "acme")
		start := time.Date(2030, time.March, 4, 0, 0, 0, 0, time.UTC)
		// Ties on created_at: 3 events share every second; order falls back to id.
		for i := range 25 {
			at := start.Add(time.Duration(i/3) * time.Second)
			if err := audit.Record(ctx, db.DB, at, acme, audit.Actor{}, audit.KeyUpdated, "", "", fmt.Sprintf("e%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := svc.Search(ctx, acme, audit.Filter{}, audit.Page{Size: 100})
		if err != nil || len(all.Events) != 25 {
			t.Fatalf("Search all = %d, %v", len(all.Events), err)
		}
		want := summariesOf(all.Events)
		for i := 1; i < len(all.Events); i++ {
			a, b := all.Events[i-1], all.Events[i]
			if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
				t.Fatalf("not newest first by (created_at, id) at %d", i)
			}
		}

		// Walk to the oldest page, then back to the newest.
		var got []string
		p := audit.Page{Size: 10}
		var pages []audit.Result
		for {
			res, err := svc.Search(ctx, acme, audit.Filter{}, p)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, res)
			got = append(got, summariesOf(res.Events)...)
			if res.Older == nil {
				break
			}
			p = *res.Older
		}
		if !slices.Equal(got, want) {
			t.Fatalf("walking older: %v, want %v", got, want)
		}
		if len(pages) != 3 || pages[0].Newer != nil || pages[1].Newer == nil || len(pages[2].Events) != 5 {
			t.Fatalf("pages: %d, first newer %v", len(pages), pages[0].Newer)
		}
		back, err := svc.Search(ctx, acme, audit.Filter{}, *pages[2].Newer)
		if err != nil || !slices.Equal(summariesOf(back.Events), summariesOf(pages[1].Events)) || back.Older == nil || back.Newer == nil {
			t.Fatalf("newer from the last page = %v, %v; want %v", summariesOf(back.Events), err, summariesOf(pages[1].Events))
		}
		first, err := svc.Search(ctx, acme, audit.Filter{}, *back.Newer)
		if err != nil || !slices.Equal(summariesOf(first.Events), want[:10]) || first.Newer != nil || first.Older == nil {
			t.Fatalf("newer again = %v (newer %v), %v; want %v", summariesOf(first.Events), first.Newer, err, want[:10])
		}
	})
}

func TestEach(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := audit.NewService(db, nil)
		acme := insertOrg(t, db, "acme")
		seed(t, db, acme, time.Date(2030, time.March, 4, 0, 0, 0, 0, time.UTC), 7)
		var got []string
		err := svc.Each(ctx, acme, audit.Filter{Action: audit.KeyCreated}, 3, func(e audit.Event) error {
			got = append(got, e.Summary)
			return nil
		})
		if err != nil || !slices.Equal(got, []string{"e6", "e4", "e2"}) {
			t.Errorf("Each = %v, %v; want the 3 newest key.created", got, err)
		}
		stop := fmt.Errorf("stop")
		if err := svc.Each(ctx, acme, audit.Filter{}, 10, func(audit.Event) error { return stop }); err != stop {
			t.Errorf("Each returned %v, want fn's error", err)
		}
	})
}
