package usage

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestActivity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reads := NewReader(db)
		ctx := context.Background()
		f, otherOrg, otherKey := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		h := now.Truncate(time.Hour)
		firstDay := time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)
		k0, k1, k2 := f.keys[0], f.keys[1], f.keys[2]
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "read", Count: 120},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "write", Count: 5},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "rate_limited", Count: 7},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-14 * time.Hour), Outcome: Allowed, Count: 4},         // today 00:00
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-15 * time.Hour), Outcome: Allowed, Count: 11},        // yesterday 23:00
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-23 * time.Hour), Outcome: "origin_denied", Count: 2}, // first of the 24 hours
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-24 * time.Hour), Outcome: Allowed, Count: 1000},      // just outside them
			{KeyID: k0, OrgID: f.orgID, Hour: firstDay, Outcome: Allowed, Count: 6},
			{KeyID: k0, OrgID: f.orgID, Hour: firstDay.Add(-time.Hour), Outcome: Allowed, Count: 50000}, // before the 7 days
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(time.Hour), Outcome: Allowed, Count: 777},           // a later hour: today's, not the last 24 hours'
			{KeyID: k1, OrgID: f.orgID, Hour: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), Outcome: "rate_limited", Count: 9},
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: Allowed, Count: 99999},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]KeyActivity{
			k0:       {Days: [ActivityDays]int64{6, 0, 0, 0, 0, 11 + 2 + 1000, 132 + 4 + 777}, Last24h: 132 + 4 + 11 + 2},
			k1:       {Days: [ActivityDays]int64{0, 0, 0, 9, 0, 0, 0}},
			k2:       {},
			otherKey: {},
		}
		// The same instant seen from another time zone (00:30 on the 24th
		// there) reads the same UTC days.
		for _, at := range []time.Time{now, now.In(time.FixedZone("UTC+10", 10*3600))} {
			got, err := reads.Activity(ctx, f.orgID, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Errorf("%d entries, want the 2 keys with traffic: %+v", len(got), got)
			}
			for id, w := range want {
				if a, ok := got[id]; ok != (w != KeyActivity{}) || a != w {
					t.Errorf("at %v, key %s: %+v (present %v), want %+v", at, id, a, ok, w)
				}
			}
		}

		// The other organization sees its own key.
		theirs, err := reads.Activity(ctx, otherOrg, now)
		if err != nil {
			t.Fatal(err)
		}
		if a := theirs[otherKey]; a.Last24h != 99999 || a.Days[ActivityDays-1] != 99999 {
			t.Errorf("other org's key: %+v", a)
		}
		if _, ok := theirs[k0]; ok || len(theirs) != 1 {
			t.Errorf("acme's key seen from the other org: %+v", theirs[k0])
		}
	})
}
