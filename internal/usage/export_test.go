package usage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reads := NewReader(db)
		f, otherOrg, otherKey := seriesFixture(t, db)
		now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
		h := now.Truncate(time.Hour)
		k0, k1 := f.keys[0], f.keys[1]
		err := Write(ctx, db, []Hourly{
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "read", Count: 120},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: Allowed, Scope: "write", Count: 5},
			{KeyID: k0, OrgID: f.orgID, Hour: h, Outcome: "rate_limited", Count: 7},
			{KeyID: k1, OrgID: f.orgID, Hour: h.Add(-time.Hour), Outcome: Allowed, Count: 40},
			{KeyID: k0, OrgID: f.orgID, Hour: h.Add(-15 * time.Hour), Outcome: Allowed, Count: 11}, // the day before, 23:00
			{KeyID: k0, OrgID: f.orgID, Hour: h.AddDate(0, 0, -3), Outcome: Allowed, Count: 1000},  // outside 24 hours
			{KeyID: otherKey, OrgID: otherOrg, Hour: h, Outcome: Allowed, Count: 99999},
		})
		if err != nil {
			t.Fatal(err)
		}
		collect := func(keyID string, from, to time.Time, b Bucket) []string {
			t.Helper()
			var got []string
			err := reads.Export(ctx, f.orgID, keyID, from, to, b, func(r ExportRow) error {
				if r.Start.Location() != time.UTC {
					t.Errorf("start %v not in UTC", r.Start)
				}
				if r.Description == "" {
					t.Errorf("row of %s without its description", r.KeyID)
				}
				got = append(got, fmt.Sprintf("%s %s %s %d", r.Start.Format(time.RFC3339), r.KeyID, r.Outcome, r.Count))
				return nil
			})
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			return got
		}
		want := func(what string, got, want []string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s:\n got  %q\n want %q", what, got, want)
			}
		}
		at := func(t time.Time) string { return t.Format(time.RFC3339) }
		from, to := Last24Hours(now)
		want("hours of the org", collect("", from, to, Hour), []string{
			at(h.Add(-15*time.Hour)) + " " + k0 + " allowed 11",
			at(h.Add(-time.Hour)) + " " + k1 + " allowed 40",
			at(h) + " " + k0 + " allowed 125",
			at(h) + " " + k0 + " rate_limited 7",
		})
		want("hours of one key", collect(k1, from, to, Hour), []string{at(h.Add(-time.Hour)) + " " + k1 + " allowed 40"})
		today := h.Truncate(24 * time.Hour)
		dFrom, dTo := LastDays(now, 7)
		want("days of the org", collect("", dFrom, dTo, Day), []string{
			at(today.AddDate(0, 0, -3)) + " " + k0 + " allowed 1000",
			at(today.AddDate(0, 0, -1)) + " " + k0 + " allowed 11",
			at(today) + " " + k0 + " allowed 125",
			at(today) + " " + k0 + " rate_limited 7",
			at(today) + " " + k1 + " allowed 40",
		})
		want("another org's key", collect(otherKey, dFrom, dTo, Day), nil)
		want("an empty window", collect("", to, from, Hour), nil)

		stop := errors.New("stop")
		n := 0
		err = reads.Export(ctx, f.orgID, "", dFrom, dTo, Day, func(ExportRow) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("a failing callback: err %v after %d rows; want stop after 1", err, n)
		}
	})
}
