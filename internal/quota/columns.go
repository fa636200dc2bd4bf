package quota

import "time"

// Columns are a quota as a key or an organization stores it (embedded in
// their GORM models). A nil QuotaKind means no quota.
type Columns struct {
	QuotaKind          *string
	QuotaLimit         *int64
	QuotaRefillSeconds *int
	QuotaRefillAmount  *int64
	QuotaAnchor        *time.Time
	QuotaTopup         int64
	QuotaTopupPeriod   *time.Time
}

// Spec returns the stored quota, and false when there is none.
func (c Columns) Spec() (Spec, bool) {
	if c.QuotaKind == nil || c.QuotaLimit == nil {
		return Spec{}, false
	}
	s := Spec{Kind: Kind(*c.QuotaKind), Limit: *c.QuotaLimit, TopUp: c.QuotaTopup}
	if c.QuotaRefillSeconds != nil {
		s.Refill = time.Duration(*c.QuotaRefillSeconds) * time.Second
	}
	if c.QuotaRefillAmount != nil {
		s.RefillAmount = *c.QuotaRefillAmount
	}
	if c.QuotaAnchor != nil {
		s.Anchor = c.QuotaAnchor.UTC()
	}
	if c.QuotaTopupPeriod != nil {
		s.TopUpPeriod = c.QuotaTopupPeriod.UTC()
	}
	return s, true
}

// ColumnsOf returns s as stored; nil stores no quota.
func ColumnsOf(s *Spec) Columns {
	if s == nil {
		return Columns{}
	}
	kind, limit := string(s.Kind), s.Limit
	c := Columns{QuotaKind: &kind, QuotaLimit: &limit, QuotaTopup: s.TopUp}
	if s.Refill > 0 {
		n := s.RefillSeconds()
		c.QuotaRefillSeconds = &n
	}
	if s.RefillAmount > 0 {
		c.QuotaRefillAmount = &s.RefillAmount
	}
	if !s.Anchor.IsZero() {
		a := s.Anchor.UTC()
		c.QuotaAnchor = &a
	}
	if s.TopUp > 0 && !s.TopUpPeriod.IsZero() {
		p := s.TopUpPeriod.UTC()
		c.QuotaTopupPeriod = &p
	}
	return c
}

// Map returns c as the column values of an update.
func (c Columns) Map() map[string]any {
	return map[string]any{
		"quota_kind": c.QuotaKind, "quota_limit": c.QuotaLimit, "quota_refill_seconds": c.QuotaRefillSeconds,
		"quota_refill_amount": c.QuotaRefillAmount,
		"quota_anchor":        c.QuotaAnchor, "quota_topup": c.QuotaTopup, "quota_topup_period": c.QuotaTopupPeriod,
	}
}
