package usage

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestCutover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reads := NewReader(db)
		ctx := context.Background()
		f, otherOrg, otherKey := seriesFixture(t, db)
		oldID, newID, bystander := f.keys[0], f.keys[1], f.keys[2]
		h := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
		rows := []Hourly{
			{KeyID: oldID, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "read", Count: 10},
			{KeyID: oldID, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "write", Count: 5},
			{KeyID: oldID, OrgID: f.orgID, Hour: h, Outcome: "rate_limited", Count: 2},
			{KeyID: oldID, OrgID: f.orgID, Hour: h.Add(-2 * time.Hour), Outcome: Allowed, Count: 300},
			{KeyID: oldID, OrgID: f.orgID, Hour: h.Add(-3 * time.Hour), Outcome: Allowed, Count: 4000}, // before from
			{KeyID: oldID, OrgID: f.orgID, Hour: h.Add(time.Hour), Outcome: Allowed, Count: 5000},      // at to
			{KeyID: newID, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 70},
			{KeyID: newID, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: "forbidden", Count: 8},
			{KeyID: bystander, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 600},
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: Allowed, Count: 99999},
		}
		if err := Write(ctx, db, rows); err != nil {
			t.Fatal(err)
		}

		// from inside an hour starts at that hour.
		pts, err := reads.Cutover(ctx, f.orgID, oldID, newID, h.Add(-2*time.Hour+25*time.Minute), h.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []CutoverPoint{
			{Start: h.Add(-2 * time.Hour), Old: 300},
			{Start: h.Add(-time.Hour), New: 8},
			{Start: h, Old: 17, New: 70},
		}
		if len(pts) != len(want) {
			t.Fatalf("%d points, want %d: %+v", len(pts), len(want), pts)
		}
		for i, w := range want {
			if !pts[i].Start.Equal(w.Start) || pts[i].Old != w.Old || pts[i].New != w.New {
				t.Errorf("point %d = %+v, want %+v", i, pts[i], w)
			}
		}

		// Another organization's key counts nothing, even named as the new key.
		pts, err = reads.Cutover(ctx, f.orgID, oldID, otherKey, h, h.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1 || pts[0].Old != 17 || pts[0].New != 0 {
			t.Errorf("with another org's key: %+v, want old 17, new 0", pts)
		}
		pts, err = reads.Cutover(ctx, otherOrg, oldID, newID, h, h.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1 || pts[0].Old != 0 || pts[0].New != 0 {
			t.Errorf("as another org: %+v, want zeroes", pts)
		}

		// An empty range has no point.
		if pts, err := reads.Cutover(ctx, f.orgID, oldID, newID, h, h); err != nil || len(pts) != 0 {
			t.Errorf("empty range: %+v, %v", pts, err)
		}
	})
}
