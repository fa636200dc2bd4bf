package quota

import (
	"context"
	"time"
)

// Subject is one quota a request spends against, as the data plane holds
// it: a key's (ID is its quota id, which a rotation hands on) or its
// organization's (ID is the organization's).
type Subject struct {
	ID   string
	Spec Spec
	// Spent is what the database held, when the key was loaded, as spent
	// in the period starting at SpentPeriod: where a counter that holds
	// nothing for the period starts.
	Spent       int64
	SpentPeriod time.Time
}

// seed is where a counter with nothing for the period starting at start
// begins.
func (s *Subject) seed(start time.Time) int64 {
	if s.SpentPeriod.Equal(start) {
		return s.Spent
	}
	return 0
}

// Charge asks to spend Cost against Key and Org, both or either (nil for
// none). OrgID is the organization both belong to: a Redis counter keeps a
// key's and its organization's amounts in one hash slot.
type Charge struct {
	OrgID    string
	Key, Org *Subject
	Cost     int64
	// ReportKey and ReportOrg make the key's or the organization's quota
	// report-only: when it has too little left, the request is still
	// allowed (and spends), and the Decision says it Would be refused.
	ReportKey, ReportOrg bool
}

// Balance is one quota's state after a Spend.
type Balance struct {
	Limit     int64 // the period's allowance
	Remaining int64
	// PeriodStart is the start of the period spent in, and Reset its end
	// (zero for credits that are never refilled).
	PeriodStart, Reset time.Time
}

// Decision is a Counter's answer. A request is allowed when every
// enforced quota it spends against has at least its cost left (at least 1
// for a cost of 0, which checks without spending); an allowed request
// spends its cost on every quota, report-only ones included.
type Decision struct {
	Allowed bool
	// Would is set on an allowed request that a report-only quota would
	// have refused.
	Would bool
	// RefusedBy is the subject whose quota refused, or would have ("" when
	// neither): the key's when both.
	RefusedBy string
	// Spent is what was spent: Cost when allowed, else 0.
	Spent    int64
	Key, Org Balance
}

// Counter keeps the spent amounts of current periods. Implementations take
// the time from the caller, so one test suite with a fake clock runs
// against all of them; they never fail (a Redis counter answers from
// process memory while Redis cannot).
type Counter interface {
	Spend(ctx context.Context, c Charge, now time.Time) Decision
}

// balance is b for spec's period starting at start once spent is spent.
func balance(s *Subject, start, end time.Time, spent int64) Balance {
	return Balance{Limit: s.Spec.Allowance(start), Remaining: s.Spec.Remaining(start, spent), PeriodStart: start, Reset: end}
}

// need is what must be left for a request of cost to pass.
func need(cost int64) int64 { return max(cost, 1) }

// judge is the Decision for c once it is known which quotas have less
// than the request needs left; the balances are the caller's to fill in.
func judge(c Charge, keyShort, orgShort bool) Decision {
	d := Decision{Allowed: true}
	switch {
	case keyShort && !c.ReportKey:
		d.Allowed, d.RefusedBy = false, c.Key.ID
	case orgShort && !c.ReportOrg:
		d.Allowed, d.RefusedBy = false, c.Org.ID
	case keyShort:
		d.Would, d.RefusedBy = true, c.Key.ID
	case orgShort:
		d.Would, d.RefusedBy = true, c.Org.ID
	}
	if d.Allowed {
		d.Spent = c.Cost
	}
	return d
}
