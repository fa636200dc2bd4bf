package usage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// seriesFixture is f plus a second organization with one key.
func seriesFixture(t *testing.T, db *store.DB) (f *fixture, otherOrg, otherKey string) {
	t.Helper()
	ctx := context.Background()
	f = newFixture(t, db)
	u, err := account.NewService(db, nil, account.WithHashParams(account.TestHashParams)).CreateUser(ctx, account.NewUser{Email: "o@example.com", Name: "O", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := org.NewService(db, nil).Create(ctx, "Other", "other", u.ID, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := apikey.NewService(db, apikey.Options{Prefix: "kp", MaxKeys: 100}).Create(ctx, o.ID, "", apikey.Input{Description: "other", Kind: "private", Environment: "live"}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return f, o.ID, c.Key.ID
}

func TestSeries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reads := NewReader(db)
		ctx := context.Background()
		f, otherOrg, otherKey := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		h := now.Truncate(time.Hour)
		k0, k1 := f.keys[0], f.keys[1]
		rows := []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "read", Count: 120},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "write", Count: 5},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "rate_limited", Count: 7},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-2 * time.Hour), Outcome: Allowed, Count: 3},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-15 * time.Hour), Outcome: Allowed, Count: 11}, // previous UTC day, 23:00
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-16 * time.Hour), Outcome: "origin_denied", Count: 2},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-24 * time.Hour), Outcome: Allowed, Count: 1000}, // outside 24h
			{KeyID: k1, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: Allowed, Count: 40},
			{KeyID: k1, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: "rate_limited", Count: 1},
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: Allowed, Count: 99999},
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: "rate_limited", Count: 99999},
		}
		if err := Write(ctx, db, rows); err != nil {
			t.Fatal(err)
		}

		// Hourly, last 24 hours.
		from, to := h.Add(-23*time.Hour), h.Add(time.Hour)
		pts, err := reads.KeySeries(ctx, f.orgID, k0, from, to, Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 24 {
			t.Fatalf("%d hourly points, want 24", len(pts))
		}
		want := map[time.Time]map[string]int64{
			h:                      {Allowed: 125, "rate_limited": 7},
			h.Add(-2 * time.Hour):  {Allowed: 3},
			h.Add(-15 * time.Hour): {Allowed: 11},
			h.Add(-16 * time.Hour): {"origin_denied": 2},
		}
		for i, p := range pts {
			if !p.Start.Equal(from.Add(time.Duration(i) * time.Hour)) {
				t.Fatalf("point %d starts %v", i, p.Start)
			}
			w := want[p.Start]
			if len(p.Counts) != len(w) {
				t.Errorf("%v: counts %v, want %v", p.Start, p.Counts, w)
			}
			for o, n := range w {
				if p.Counts[o] != n {
					t.Errorf("%v %s: %d, want %d", p.Start, o, p.Counts[o], n)
				}
			}
		}

		// Daily: the hours fold into UTC days, zero-filled.
		day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
		days, err := reads.KeySeries(ctx, f.orgID, k0, day.AddDate(0, 0, -29), day.AddDate(0, 0, 1), Day)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 30 {
			t.Fatalf("%d daily points, want 30", len(days))
		}
		for i, p := range days {
			if !p.Start.Equal(day.AddDate(0, 0, i-29)) {
				t.Fatalf("day %d starts %v", i, p.Start)
			}
			var wantTotal int64
			switch i {
			case 29:
				wantTotal = 135 // 125 + 7 + 3
			case 28:
				wantTotal = 11 + 2 + 1000
			}
			if p.Total() != wantTotal {
				t.Errorf("day %v total %d (%v), want %d", p.Start, p.Total(), p.Counts, wantTotal)
			}
		}
		if days[28].Counts[Allowed] != 1011 || days[28].Counts["origin_denied"] != 2 {
			t.Errorf("yesterday %v", days[28].Counts)
		}

		// Another organization's key shows nothing to this one.
		leak, err := reads.KeySeries(ctx, f.orgID, otherKey, from, to, Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range leak {
			if p.Total() != 0 {
				t.Errorf("other org's key leaked: %v", p.Counts)
			}
		}

		// Org totals: every key of the org, none of the other's.
		org24, err := reads.OrgTotals(ctx, f.orgID, from, to, Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := org24[23].Counts; got[Allowed] != 125 || got["rate_limited"] != 7 {
			t.Errorf("org current hour %v", got)
		}
		if got := org24[22].Counts; got[Allowed] != 40 || got["rate_limited"] != 1 {
			t.Errorf("org previous hour %v", got)
		}
		var sum int64
		for _, p := range org24 {
			sum += p.Total()
		}
		if sum != 125+7+3+11+2+41 {
			t.Errorf("org 24h sum %d", sum)
		}

		// Top keys and rejections over whole UTC days: today and yesterday
		// (the 1000 at yesterday 14:00 counts), then today alone.
		from, to = Day.start(h).AddDate(0, 0, -1), Day.start(h).AddDate(0, 0, 1)
		top, err := reads.TopKeys(ctx, f.orgID, from, to, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 2 || top[0].KeyID != k0 || top[0].Total != 1148 || top[1].KeyID != k1 || top[1].Total != 41 {
			t.Errorf("top keys %+v", top)
		}
		if top[0].Description != "key 0" || top[0].Hint == "" {
			t.Errorf("top key names %+v", top[0])
		}
		if one, _ := reads.TopKeys(ctx, f.orgID, from, to, 1); len(one) != 1 {
			t.Errorf("limit 1 gave %d", len(one))
		}
		days, err = reads.OrgTotals(ctx, f.orgID, from, to, Day)
		if err != nil {
			t.Fatal(err)
		}
		rej := Rejections(days)
		if len(rej) != 2 || rej[0] != (CodeTotal{"rate_limited", 8}) || rej[1] != (CodeTotal{"origin_denied", 2}) {
			t.Errorf("rejections %+v", rej)
		}
		failing, err := reads.FailingKeys(ctx, f.orgID, from, to, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(failing); got != fmt.Sprintf("[{%s key 0 %s 9 [{rate_limited 7} {origin_denied 2}]} {%s key 1 %s 1 [{rate_limited 1}]}]", k0, failing[0].Hint, k1, failing[1].Hint) {
			t.Errorf("failing keys %s", got)
		}
		if one, err := reads.FailingKeys(ctx, f.orgID, from, to, 1); err != nil || len(one) != 1 || one[0].KeyID != k0 {
			t.Errorf("failing keys, limit 1: %+v %v", one, err)
		}
		if none, err := reads.FailingKeys(ctx, f.orgID, to, to.AddDate(0, 0, 1), 10); err != nil || len(none) != 0 {
			t.Errorf("failing keys of an empty day: %+v %v", none, err)
		}
		today, err := reads.TopKeys(ctx, f.orgID, h, to, 10)
		if err != nil || len(today) != 2 || today[0].KeyID != k0 || today[0].Total != 135 || today[1].Total != 41 {
			t.Errorf("top keys today %+v %v", today, err)
		}
		if days, err := reads.OrgTotals(ctx, f.orgID, h, to, Day); err != nil || len(Rejections(days)) != 1 || Rejections(days)[0] != (CodeTotal{"rate_limited", 8}) {
			t.Errorf("rejections today %+v %v", days, err)
		}

		// An empty range.
		if none, err := reads.OrgTotals(ctx, f.orgID, to, to, Day); err != nil || len(none) != 0 {
			t.Errorf("empty range: %v %v", none, err)
		}
	})
}
