package org_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestSetRequireTwoFactor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		ada := insertUser(t, db, "ada@example.com", "Ada")
		o, err := svc.Create(ctx, "Acme", "acme", ada.ID, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if o.RequireTwoFactor {
			t.Fatal("a new organization requires two-factor")
		}
		a := audit.Actor{UserID: ada.ID, Email: ada.Email}
		events := func() int64 {
			var n int64
			db.Table("audit_events").Where("org_id = ? AND action = ?", o.ID, audit.OrgSettingsChanged).Count(&n)
			return n
		}
		for _, step := range []struct {
			require bool
			events  int64
		}{{true, 1}, {true, 1}, {false, 2}, {false, 2}, {true, 3}} {
			if err := svc.SetRequireTwoFactor(ctx, o.ID, step.require, a); err != nil {
				t.Fatal(err)
			}
			j, err := svc.MembershipBySlug(ctx, "acme", ada.ID)
			if err != nil || j.RequireTwoFactor != step.require {
				t.Fatalf("after SetRequireTwoFactor(%v): membership %+v, %v", step.require, j, err)
			}
			joined, _ := svc.ForUser(ctx, ada.ID)
			if len(joined) != 1 || joined[0].RequireTwoFactor != step.require {
				t.Fatalf("ForUser = %+v", joined)
			}
			if n := events(); n != step.events {
				t.Errorf("after SetRequireTwoFactor(%v): %d events, want %d (a repeat records nothing)", step.require, n, step.events)
			}
		}
		var summary string
		db.Table("audit_events").Where("action = ?", audit.OrgSettingsChanged).Order("created_at").Limit(1).Pluck("summary", &summary)
		if summary != "ada@example.com required two-factor sign-in of every member of Acme" {
			t.Errorf("summary %q", summary)
		}
		for _, id := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
			if err := svc.SetRequireTwoFactor(ctx, id, true, a); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("SetRequireTwoFactor(%q) = %v, want NotFound", id, err)
			}
		}
	})
}

// TestKeyPolicy: a new organization flags keys idle after 90 days and has
// no maximum lifetime; bad values are Invalid per field; a change is
// recorded with a summary, a repeat records nothing.
func TestKeyPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		ada := insertUser(t, db, "ada@example.com", "Ada")
		o, err := svc.Create(ctx, "Acme", "acme", ada.ID, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := svc.KeyPolicy(ctx, o.ID); err != nil || p != (org.KeyPolicy{IdleDays: org.DefaultIdleDays}) {
			t.Fatalf("a new organization's policy = %+v, %v", p, err)
		}
		a := audit.Actor{UserID: ada.ID, Email: ada.Email}
		for _, tc := range []struct {
			p      org.KeyPolicy
			fields []string
		}{
			{org.KeyPolicy{MaxLifetimeDays: -1}, []string{"max_key_lifetime_days"}},
			{org.KeyPolicy{MaxLifetimeDays: 3651, IdleDays: 100000}, []string{"idle_days", "max_key_lifetime_days"}},
			{org.KeyPolicy{IdleDays: -5}, []string{"idle_days"}},
			{org.KeyPolicy{IdleDisable: true}, []string{"idle_disable"}},
		} {
			_, err := svc.SetKeyPolicy(ctx, o.ID, tc.p, a)
			var got []string
			for f := range apperr.FieldsOf(err) {
				got = append(got, f)
			}
			slices.Sort(got)
			if !apperr.Is(err, apperr.Invalid) || !slices.Equal(got, tc.fields) {
				t.Errorf("SetKeyPolicy(%+v) = %v %v, want Invalid on %v", tc.p, err, got, tc.fields)
			}
		}
		changes := func() []string {
			var out []string
			db.Table("audit_events").Where("org_id = ? AND action = ?", o.ID, audit.OrgSettingsChanged).Order("created_at, id").Pluck("summary", &out)
			return out
		}
		if n := len(changes()); n != 0 {
			t.Fatalf("refused policies recorded %d changes", n)
		}
		want := org.KeyPolicy{MaxLifetimeDays: 30, IdleDays: 14, IdleDisable: true}
		for i := range 2 {
			changed, err := svc.SetKeyPolicy(ctx, o.ID, want, a)
			if err != nil || changed != (i == 0) {
				t.Fatalf("SetKeyPolicy #%d = %v, %v", i+1, changed, err)
			}
		}
		if p, err := svc.KeyPolicy(ctx, o.ID); err != nil || p != want {
			t.Errorf("KeyPolicy = %+v, %v; want %+v", p, err, want)
		}
		if _, err := svc.SetKeyPolicy(ctx, o.ID, org.KeyPolicy{}, a); err != nil {
			t.Fatal(err)
		}
		if p, _ := svc.KeyPolicy(ctx, o.ID); p != (org.KeyPolicy{}) {
			t.Errorf("after turning everything off: %+v", p)
		}
		got := changes()
		wantSummaries := []string{
			"ada@example.com set the key policies of Acme: keys must expire within 30 days; keys unused for 14 days are flagged idle and disabled",
			"ada@example.com set the key policies of Acme: no maximum key lifetime; keys are never flagged idle",
		}
		if !slices.Equal(got, wantSummaries) {
			t.Errorf("summaries %q", got)
		}
		for _, id := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
			if _, err := svc.SetKeyPolicy(ctx, id, want, a); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("SetKeyPolicy(%q) = %v, want NotFound", id, err)
			}
			if _, err := svc.KeyPolicy(ctx, id); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("KeyPolicy(%q) = %v, want NotFound", id, err)
			}
		}
	})
}

func TestParsePolicyDays(t *testing.T) {
	for in, want := range map[string]int{"": 0, " 30 ": 30, "1": 1, "3650": 3650} {
		if got, msg := org.ParsePolicyDays(in); got != want || msg != "" {
			t.Errorf("ParsePolicyDays(%q) = %d, %q", in, got, msg)
		}
	}
	for _, in := range []string{"0", "-1", "3651", "100000", "abc", "1.5", "1e3"} {
		if _, msg := org.ParsePolicyDays(in); !strings.Contains(msg, "from 1 to 3650") {
			t.Errorf("ParsePolicyDays(%q) message %q", in, msg)
		}
	}
}
