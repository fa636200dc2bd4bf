package quota_test

import (
	"reflect"
	"testing"
	"time"

	"keyplane/internal/quota"
)

func TestSpecValid(t *testing.T) {
	tests := []struct {
		name string
		spec quota.Spec
		ok   bool
		msg  string
	}{
		{"a day", day(1), true, ""},
		{"a month at the largest", month(quota.MaxLimit), true, ""},
		{"credits refilled hourly", quota.Spec{Kind: quota.Credits, Limit: 10, Refill: time.Hour}, true, ""},
		{"credits never refilled, topped up", quota.Spec{Kind: quota.Credits, Limit: 10, TopUp: quota.MaxLimit}, true, ""},
		{"no kind", quota.Spec{Limit: 1}, false, "Choose requests per day, requests per month or credits."},
		{"an unknown kind", quota.Spec{Kind: "week", Limit: 1}, false, "Choose requests per day, requests per month or credits."},
		{"a limit of 0", day(0), false, "Enter a whole number from 1 to 1000000000000."},
		{"a limit too large", day(quota.MaxLimit + 1), false, "Enter a whole number from 1 to 1000000000000."},
		{"a refilled day", quota.Spec{Kind: quota.Day, Limit: 1, Refill: time.Hour}, false, "Only credits are refilled."},
		{"refilled too often", quota.Spec{Kind: quota.Credits, Limit: 1, Refill: 59 * time.Second}, false, "Refill at most once a minute and at least once every 366 days."},
		{"refilled too rarely", quota.Spec{Kind: quota.Credits, Limit: 1, Refill: quota.MaxRefill + time.Second}, false, "Refill at most once a minute and at least once every 366 days."},
		{"refilled at the bounds", quota.Spec{Kind: quota.Credits, Limit: 1, Refill: quota.MinRefill}, true, ""},
		{"a negative top-up", quota.Spec{Kind: quota.Credits, Limit: 1, TopUp: -1}, false, "A top-up is too large."},
		{"a top-up too large", quota.Spec{Kind: quota.Credits, Limit: 1, TopUp: quota.MaxLimit + 1}, false, "A top-up is too large."},
	}
	for _, tt := range tests {
		if ok, msg := tt.spec.Valid(); ok != tt.ok || msg != tt.msg {
			t.Errorf("%s: Valid() = %v, %q, want %v, %q", tt.name, ok, msg, tt.ok, tt.msg)
		}
	}
}

func TestSpecPeriod(t *testing.T) {
	anchor := at(2030, 1, 1, 10, 20)
	hourly := quota.Spec{Kind: quota.Credits, Limit: 5, Refill: time.Hour, Anchor: anchor.In(plus5)}
	tests := []struct {
		name       string
		spec       quota.Spec
		now        time.Time
		start, end time.Time
	}{
		{"a day, in UTC", day(1), at(2030, 3, 1, 23, 59).In(plus5), at(2030, 3, 1, 0, 0), at(2030, 3, 2, 0, 0)},
		{"a leap day", day(1), at(2028, 2, 29, 12, 0), at(2028, 2, 29, 0, 0), at(2028, 3, 1, 0, 0)},
		{"February", month(1), at(2030, 2, 28, 23, 59), at(2030, 2, 1, 0, 0), at(2030, 3, 1, 0, 0)},
		{"December", month(1), at(2030, 12, 31, 23, 59), at(2030, 12, 1, 0, 0), jan1(2031)},
		{"credits at the anchor", hourly, anchor, anchor, anchor.Add(time.Hour)},
		{"credits just before a refill", hourly, anchor.Add(3*time.Hour - time.Nanosecond), anchor.Add(2 * time.Hour), anchor.Add(3 * time.Hour)},
		{"credits before the anchor", hourly, anchor.Add(-3 * time.Hour), anchor, anchor.Add(time.Hour)},
		{"credits never refilled", quota.Spec{Kind: quota.Credits, Limit: 5, Anchor: anchor}, at(2040, 1, 1, 0, 0), anchor, time.Time{}},
	}
	for _, tt := range tests {
		start, end := tt.spec.Period(tt.now)
		if !start.Equal(tt.start) || !end.Equal(tt.end) || start.Location() != time.UTC {
			t.Errorf("%s: Period(%v) = %v, %v, want %v, %v in UTC", tt.name, tt.now, start, end, tt.start, tt.end)
		}
	}
}

func TestSpecAllowance(t *testing.T) {
	s := quota.Spec{Kind: quota.Day, Limit: 10, TopUp: 5, TopUpPeriod: today}
	for _, tt := range []struct {
		start                  time.Time
		spent, allow, remained int64
	}{
		{today, 0, 15, 15},
		{today, 14, 15, 1},
		{today, 20, 15, 0},
		{tomorrow, 3, 10, 7},
		{today.AddDate(0, 0, -1), 11, 10, 0},
	} {
		if a, r := s.Allowance(tt.start), s.Remaining(tt.start, tt.spent); a != tt.allow || r != tt.remained {
			t.Errorf("period %v, %d spent: allowance %d, remaining %d, want %d, %d", tt.start, tt.spent, a, r, tt.allow, tt.remained)
		}
	}
}

// TestColumns: a quota stored and read back is the same quota, in UTC;
// no quota stores nothing.
func TestColumns(t *testing.T) {
	specs := []quota.Spec{
		day(10),
		month(quota.MaxLimit),
		{Kind: quota.Credits, Limit: 100, Refill: 36 * time.Hour, Anchor: at(2030, 1, 1, 10, 20)},
		{Kind: quota.Credits, Limit: 100, Anchor: today, TopUp: 40, TopUpPeriod: today},
	}
	for _, s := range specs {
		in := s
		in.Anchor, in.TopUpPeriod = in.Anchor.In(plus5), in.TopUpPeriod.In(plus5)
		if s.Anchor.IsZero() {
			in.Anchor = time.Time{}
		}
		if s.TopUpPeriod.IsZero() {
			in.TopUpPeriod = time.Time{}
		}
		got, ok := quota.ColumnsOf(&in).Spec()
		if !ok || !reflect.DeepEqual(got, s) {
			t.Errorf("stored and read back %+v: %+v, %v", s, got, ok)
		}
	}
	if _, ok := quota.ColumnsOf(nil).Spec(); ok {
		t.Error("no quota reads back as a quota")
	}
	// A top-up period without a top-up is not stored.
	c := quota.ColumnsOf(&quota.Spec{Kind: quota.Day, Limit: 1, TopUpPeriod: today})
	if c.QuotaTopupPeriod != nil {
		t.Errorf("top-up period stored without a top-up: %v", *c.QuotaTopupPeriod)
	}
	want := []string{"quota_anchor", "quota_kind", "quota_limit", "quota_refill_amount", "quota_refill_seconds", "quota_topup", "quota_topup_period"}
	m := c.Map()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("Map lacks %s", k)
		}
	}
	if len(m) != len(want) {
		t.Errorf("Map has %d columns, want %d", len(m), len(want))
	}
	if n := (quota.Spec{Refill: 90 * time.Minute}).RefillSeconds(); n != 5400 {
		t.Errorf("RefillSeconds = %d, want 5400", n)
	}
}

// TestRefillAmount: credits start at Limit; each refill sets the balance
// to RefillAmount, whatever was left.
func TestRefillAmount(t *testing.T) {
	anchor := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := quota.Spec{Kind: quota.Credits, Limit: 1000, Refill: 24 * time.Hour, RefillAmount: 100, Anchor: anchor}
	if ok, msg := s.Valid(); !ok {
		t.Fatal(msg)
	}
	if got := s.Allowance(anchor); got != 1000 {
		t.Fatalf("first period allows %d, want 1000", got)
	}
	next, _ := s.Period(anchor.Add(25 * time.Hour))
	if got := s.Allowance(next); got != 100 {
		t.Fatalf("after a refill %d, want 100", got)
	}
	s.TopUp, s.TopUpPeriod = 50, next
	if got := s.Allowance(next); got != 150 {
		t.Fatalf("with a top-up %d, want 150", got)
	}
	for _, bad := range []quota.Spec{
		{Kind: quota.Credits, Limit: 10, RefillAmount: 5},
		{Kind: quota.Credits, Limit: 10, Refill: time.Hour, RefillAmount: -1},
		{Kind: quota.Credits, Limit: 10, Refill: time.Hour, RefillAmount: quota.MaxLimit + 1},
	} {
		if ok, _ := bad.Valid(); ok {
			t.Errorf("%+v valid", bad)
		}
	}
}
