package usage

import (
	"context"
	"errors"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestLastDays(t *testing.T) {
	now := time.Date(2026, 11, 23, 23, 59, 0, 0, time.FixedZone("X", -5*3600)) // 2026-11-24 04:59 UTC
	from, to := LastDays(now, 30)
	if want := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC); !to.Equal(want) {
		t.Errorf("to = %v, want %v", to, want)
	}
	if want := time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC); !from.Equal(want) {
		t.Errorf("from = %v, want %v", from, want)
	}
}

func TestOverview(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f, otherOrg, otherKey := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		h := now.Truncate(time.Hour)
		k0, k1 := f.keys[0], f.keys[1]
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 10},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-48 * time.Hour), Outcome: "rate_limited", Count: 4},
			{KeyID: k1, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: Allowed, Count: 30},
			{KeyID: k1, OrgID: f.orgID, Hour: h.AddDate(0, 0, -OverviewDays), Outcome: Allowed, Count: 1000}, // outside
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: "rate_limited", Count: 99999},
		})
		if err != nil {
			t.Fatal(err)
		}
		o, err := NewReader(db).Overview(ctx, f.orgID, now)
		if err != nil {
			t.Fatalf("Overview: %v", err)
		}
		sum := func(pts []Point) (n int64) {
			for _, p := range pts {
				n += p.Total()
			}
			return n
		}
		if len(o.Hourly) != 24 || sum(o.Hourly) != 40 {
			t.Errorf("hourly: %d points, %d requests; want 24, 40", len(o.Hourly), sum(o.Hourly))
		}
		if len(o.Daily) != OverviewDays || sum(o.Daily) != 44 || !o.Daily[OverviewDays-1].Start.Equal(h.Truncate(24*time.Hour)) {
			t.Errorf("daily: %d points, %d requests; want %d, 44, ending today", len(o.Daily), sum(o.Daily), OverviewDays)
		}
		if len(o.Top) != 2 || o.Top[0].KeyID != k1 || o.Top[0].Total != 30 || o.Top[1].KeyID != k0 || o.Top[1].Total != 14 {
			t.Errorf("top = %+v", o.Top)
		}
		if len(o.Failing) != 1 || o.Failing[0].KeyID != k0 || o.Failing[0].Rejected != 4 {
			t.Errorf("failing = %+v", o.Failing)
		}
	})
}

// Write inside a caller's transaction is undone with it.
func TestWriteJoinsTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		boom := errors.New("boom")
		h := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
		err := db.WithTx(ctx, func(ctx context.Context) error {
			if err := Write(ctx, db, []Hourly{{KeyID: f.keys[0], OrgID: f.orgID, Hour: h, Outcome: Allowed, Count: 3}}); err != nil {
				return err
			}
			pts, err := NewReader(db).KeySeries(ctx, f.orgID, f.keys[0], h, h.Add(time.Hour), Hour)
			if err != nil || len(pts) != 1 || pts[0].Total() != 3 {
				t.Errorf("the transaction reads %v, %v; want its own 3 requests", pts, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if rows := f.rows(t); len(rows) != 0 {
			t.Fatalf("rows after the rollback: %v", rows)
		}
	})
}
