package apikey

import (
	"context"
	"sync"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/quota"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func creditsInput(limit, refill string) Input {
	in := Input{Description: "Metered", Kind: "private", Environment: "live"}
	in.Quota = QuotaInput{Kind: "credits", Limit: limit, Refill: refill}
	return in
}

func TestQuotaSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		day := f.create(t, Input{Description: "Daily", Kind: "private", Environment: "live", Quota: QuotaInput{Kind: "day", Limit: "10000"}})
		spec := f.get(t, day.Key.ID).QuotaSpec()
		if spec == nil || spec.Kind != quota.Day || spec.Limit != 10000 || !spec.Anchor.IsZero() {
			t.Fatalf("stored day quota %+v", spec)
		}
		for _, bad := range []struct {
			in    QuotaInput
			field string
		}{
			{QuotaInput{Kind: "week", Limit: "5"}, "quota_kind"},
			{QuotaInput{Limit: "5"}, "quota_kind"},
			{QuotaInput{Kind: "day", Limit: "-1"}, "quota_limit"},
			{QuotaInput{Kind: "day", Limit: "0"}, "quota_limit"},
			{QuotaInput{Kind: "day", Limit: "1.5"}, "quota_limit"},
			{QuotaInput{Kind: "day", Limit: "1000000000001"}, "quota_limit"},
			{QuotaInput{Kind: "day", Limit: "99999999999999999999999"}, "quota_limit"},
			{QuotaInput{Kind: "day", Limit: "5", Refill: "1d"}, "quota_refill"},
			{QuotaInput{Kind: "credits", Limit: "5", Refill: "30s"}, "quota_refill"},
			{QuotaInput{Kind: "credits", Limit: "5", Refill: "400d"}, "quota_refill"},
			{QuotaInput{Kind: "credits", Limit: "5", Refill: "soon"}, "quota_refill"},
			{QuotaInput{Kind: "credits", Limit: "5", RefillAmount: "3"}, "quota_refill_amount"},
			{QuotaInput{Kind: "credits", Limit: "5", Refill: "1h", RefillAmount: "0"}, "quota_refill_amount"},
		} {
			in := Input{Description: "Bad", Kind: "private", Environment: "live", Quota: bad.in}
			_, err := f.svc.Create(ctx, f.org, store.NewID(), in, f.actor)
			if apperr.CodeOf(err) != apperr.Invalid || apperr.FieldsOf(err)[bad.field] == "" {
				t.Errorf("%+v: %v (fields %v), want a message on %s", bad.in, err, apperr.FieldsOf(err), bad.field)
			}
		}

		// Editing the amount keeps the period's top-up; a new kind starts afresh.
		c := f.create(t, creditsInput("100", "1d"))
		if _, err := f.svc.TopUp(ctx, f.org, c.Key.ID, 50, f.actor); err != nil {
			t.Fatal(err)
		}
		in := creditsInput("200", "1d")
		k, err := f.svc.Update(ctx, f.org, c.Key.ID, in, f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if s := k.QuotaSpec(); s.Limit != 200 || s.TopUp != 50 || !s.Anchor.Equal(f.clock.Now().Truncate(time.Second)) {
			t.Fatalf("after editing the amount: %+v", s)
		}
		in.Quota = QuotaInput{Kind: "month", Limit: "200"}
		if k, err = f.svc.Update(ctx, f.org, c.Key.ID, in, f.actor); err != nil || k.QuotaSpec().TopUp != 0 || k.QuotaSpec().Kind != quota.Month {
			t.Fatalf("after a new kind: %+v, %v", k.QuotaSpec(), err)
		}
		in.Quota = QuotaInput{}
		if k, err = f.svc.Update(ctx, f.org, c.Key.ID, in, f.actor); err != nil || k.QuotaSpec() != nil {
			t.Fatalf("after removing the quota: %+v, %v", k.QuotaSpec(), err)
		}
	})
}

// TestTopUp adds credits for the current period only, to every key sharing
// the quota, and refuses what makes no sense.
func TestTopUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c := f.create(t, creditsInput("100", "1h"))
		f.takeChanged()
		// Concurrent top-ups all count.
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if _, err := f.svc.TopUp(ctx, f.org, c.Key.ID, 10, f.actor); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		k := f.get(t, c.Key.ID)
		start, _ := k.QuotaSpec().Period(f.clock.Now())
		if got := k.QuotaSpec().Allowance(start); got != 150 {
			t.Fatalf("allowance after five top-ups of 10: %d, want 150", got)
		}
		if n := len(f.takeChanged()); n != 5 {
			t.Fatalf("%d change notices, want 5", n)
		}
		if ev := f.events(t, f.org, audit.KeyCreditsAdded); len(ev) != 5 {
			t.Fatalf("%d audit events", len(ev))
		}
		// The next refill period does not carry them.
		f.clock.Advance(time.Hour)
		next, _ := k.QuotaSpec().Period(f.clock.Now())
		if got := f.get(t, c.Key.ID).QuotaSpec().Allowance(next); got != 100 {
			t.Fatalf("next period's allowance %d, want 100", got)
		}
		if _, err := f.svc.TopUp(ctx, f.org, c.Key.ID, 7, f.actor); err != nil {
			t.Fatal(err)
		}
		if got := f.get(t, c.Key.ID).QuotaSpec().Allowance(next); got != 107 {
			t.Fatalf("a top-up in the next period: %d, want 107", got)
		}

		// A rotation's successor counts under the same quota; a top-up
		// reaches both.
		next2, _, err := f.svc.Rotate(ctx, f.org, c.Key.ID, "24h", store.NewID(), f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if next2.Key.QuotaSubject() != c.Key.ID {
			t.Fatalf("successor's quota subject %s, want %s", next2.Key.QuotaSubject(), c.Key.ID)
		}
		if _, err := f.svc.TopUp(ctx, f.org, next2.Key.ID, 3, f.actor); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{c.Key.ID, next2.Key.ID} {
			if got := f.get(t, id).QuotaSpec().Allowance(next); got != 110 {
				t.Errorf("key %s allowance %d, want 110", id, got)
			}
		}

		day := f.create(t, Input{Description: "Daily", Kind: "private", Environment: "live", Quota: QuotaInput{Kind: "day", Limit: "5"}})
		none := f.create(t, Input{Description: "Free", Kind: "private", Environment: "live"})
		for _, tc := range []struct {
			id     string
			amount int64
		}{{day.Key.ID, 5}, {none.Key.ID, 5}, {next2.Key.ID, 0}, {next2.Key.ID, -5}, {next2.Key.ID, quota.MaxLimit + 1}} {
			if _, err := f.svc.TopUp(ctx, f.org, tc.id, tc.amount, f.actor); apperr.CodeOf(err) != apperr.Invalid {
				t.Errorf("top-up %d of %s: %v, want Invalid", tc.amount, tc.id, err)
			}
		}
		// The period's credits added stay within the largest quota.
		if _, err := f.svc.TopUp(ctx, f.org, next2.Key.ID, quota.MaxLimit-10, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.TopUp(ctx, f.org, next2.Key.ID, 1, f.actor); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("a top-up past the largest quota: %v, want Invalid", err)
		}
		if _, err := f.svc.TopUp(ctx, f.other, next2.Key.ID, 5, f.otherActor); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("another org's top-up: %v, want NotFound", err)
		}
	})
}

// TestQuotaStates reads what each key's quota spent in its current period.
func TestQuotaStates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		a := f.create(t, Input{Description: "A", Kind: "private", Environment: "live", Quota: QuotaInput{Kind: "day", Limit: "100"}})
		b := f.create(t, creditsInput("40", ""))
		free := f.create(t, Input{Description: "Free", Kind: "private", Environment: "live"})
		now := f.clock.Now()
		today, _ := a.Key.QuotaSpec().Period(now)
		yesterday := today.AddDate(0, 0, -1)
		for _, r := range []struct {
			subject string
			start   time.Time
			spent   int64
		}{{a.Key.ID, today, 30}, {a.Key.ID, yesterday, 99}, {b.Key.ID, b.Key.QuotaSpec().Anchor, 45}} {
			err := db.Exec("INSERT INTO quota_spent (subject_id, org_id, period_start, spent, updated_at) VALUES (?, ?, ?, ?, ?)",
				r.subject, f.org, r.start, r.spent, now).Error
			if err != nil {
				t.Fatal(err)
			}
		}
		states, err := f.svc.QuotaStates(ctx, f.org, []Key{a.Key, b.Key, free.Key}, now)
		if err != nil {
			t.Fatal(err)
		}
		if s := states[a.Key.ID]; s.Spent != 30 || s.Remaining != 70 || s.Percent() != 30 || !s.Reset.Equal(today.AddDate(0, 0, 1)) {
			t.Errorf("day quota: %+v", s)
		}
		if s := states[b.Key.ID]; s.Spent != 45 || s.Remaining != 0 || s.Percent() != 100 || !s.Reset.IsZero() {
			t.Errorf("credits: %+v", s)
		}
		if _, ok := states[free.Key.ID]; ok || len(states) != 2 {
			t.Errorf("states %v", states)
		}
		// Another organization's view of these keys holds nothing.
		if other, err := f.svc.QuotaStates(ctx, f.other, []Key{a.Key}, now); err != nil || len(other) != 0 {
			t.Errorf("other org: %v %v", other, err)
		}
	})
}

// TestOrgQuota sets, tops up and removes an organization's quota; every
// change reaches every server's cache.
func TestOrgQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		if q, err := f.svc.OrgQuota(ctx, f.org, f.clock.Now()); err != nil || q.State != nil {
			t.Fatalf("new org's quota %+v, %v", q, err)
		}
		if _, err := f.svc.SetOrgQuota(ctx, f.org, QuotaInput{Kind: "month", Limit: "abc"}, false, f.actor); apperr.FieldsOf(err)["quota_limit"] == "" {
			t.Fatalf("bad limit: %v", err)
		}
		q, err := f.svc.SetOrgQuota(ctx, f.org, QuotaInput{Kind: "credits", Limit: "1000"}, true, f.actor)
		if err != nil || q.State == nil || q.State.Limit != 1000 || !q.ReportOnly {
			t.Fatalf("set: %+v %v", q, err)
		}
		f.assertChanged(t, AllChange)
		if q, err = f.svc.TopUpOrg(ctx, f.org, 250, f.actor); err != nil || q.State.Limit != 1250 {
			t.Fatalf("top up: %+v %v", q.State, err)
		}
		f.assertChanged(t, AllChange)
		if q, err = f.svc.SetOrgQuota(ctx, f.org, QuotaInput{}, false, f.actor); err != nil || q.State != nil || q.ReportOnly {
			t.Fatalf("remove: %+v %v", q, err)
		}
		if _, err := f.svc.TopUpOrg(ctx, f.org, 5, f.actor); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("top-up without a credits quota: %v", err)
		}
		if _, err := f.svc.SetOrgQuota(ctx, f.org, QuotaInput{Kind: "credits", Limit: "5"}, false, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.TopUpOrg(ctx, f.org, quota.MaxLimit, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.TopUpOrg(ctx, f.org, 1, f.actor); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("an org top-up past the largest quota: %v", err)
		}
		if ev := f.events(t, f.org, audit.OrgQuotaChanged); len(ev) != 3 {
			t.Fatalf("%d quota change events", len(ev))
		}
		if got := DescribeQuota(&quota.Spec{Kind: quota.Credits, Limit: 5000, Refill: 24 * time.Hour, RefillAmount: 100}, true); got != "5,000 credits, set to 100 every day (report only)" {
			t.Fatalf("DescribeQuota: %q", got)
		}
	})
}

func TestQuotaWords(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Thousands(0), "0"},
		{Thousands(999), "999"},
		{Thousands(1000), "1,000"},
		{Thousands(1234567), "1,234,567"},
		{Thousands(-4500), "-4,500"},
		{Count(1, "credit", "credits"), "1 credit"},
		{Count(0, "credit", "credits"), "0 credits"},
		{Count(1234567, "request", "requests"), "1,234,567 requests"},
		{Every(time.Minute), "every minute"},
		{Every(90 * time.Minute), "every 90 minutes"},
		{Every(24 * time.Hour), "every day"},
		{Every(30 * 24 * time.Hour), "every 30 days"},
		{DescribeQuota(&quota.Spec{Kind: quota.Day, Limit: 1}, false), "1 request a day"},
		{DescribeQuota(nil, false), "none"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
