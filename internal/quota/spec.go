// Package quota counts what keys and organizations spend against their
// quotas: requests per UTC day or month, or a balance of credits with an
// optional refill. A Spec says what a quota allows in which period; a
// Counter keeps the spent amounts of the current periods, in process
// (Memory) or in Redis shared by every replica (Redis). The database holds
// the spent amounts too (written with the usage counts) and is the source
// of truth a counter starts from.
package quota

import (
	"fmt"
	"time"
)

// Kind is what a quota counts.
type Kind string

// The kinds of quota.
const (
	Day     Kind = "day"     // requests per UTC day
	Month   Kind = "month"   // requests per UTC calendar month
	Credits Kind = "credits" // a balance, optionally refilled
)

// Limits on quotas and costs.
const (
	MaxLimit    = 1_000_000_000_000 // the largest quota, top-up or balance
	MaxCost     = 1000              // the largest cost of one request
	MinRefill   = time.Minute
	MaxRefill   = 366 * 24 * time.Hour
	DefaultCost = 1
	LowAt       = 0.8 // key.quota_low fires once this share is spent
)

// Spec is a quota as configured: Limit requests per Day or Month, or a
// balance of Limit credits (Credits) set to RefillAmount (0: Limit) every
// Refill counted from Anchor (never when Refill is 0; the balance then
// lives in the one period starting at Anchor). Credits left at a refill do
// not carry over. TopUp credits were added in the period starting at
// TopUpPeriod, and count in that period only.
type Spec struct {
	Kind         Kind
	Limit        int64
	Refill       time.Duration
	RefillAmount int64
	Anchor       time.Time
	TopUp        int64
	TopUpPeriod  time.Time
}

// Valid reports whether s may be stored, with a message for an admin when
// it may not.
func (s Spec) Valid() (bool, string) {
	switch s.Kind {
	case Day, Month, Credits:
	default:
		return false, "Choose requests per day, requests per month or credits."
	}
	if s.Limit < 1 || s.Limit > MaxLimit {
		return false, fmt.Sprintf("Enter a whole number from 1 to %d.", int64(MaxLimit))
	}
	if s.Kind != Credits && s.Refill != 0 {
		return false, "Only credits are refilled."
	}
	if s.Refill != 0 && (s.Refill < MinRefill || s.Refill > MaxRefill) {
		return false, "Refill at most once a minute and at least once every 366 days."
	}
	if s.RefillAmount < 0 || s.RefillAmount > MaxLimit || (s.RefillAmount != 0 && s.Refill == 0) {
		return false, "A refill amount needs a refill interval, and at most the largest quota."
	}
	if s.TopUp < 0 || s.TopUp > MaxLimit {
		return false, "A top-up is too large."
	}
	return true, ""
}

// Period returns the period now falls in: its start, and its end (zero
// for credits that are never refilled).
func (s Spec) Period(now time.Time) (start, end time.Time) {
	now = now.UTC()
	switch s.Kind {
	case Day:
		start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case Month:
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	anchor := s.Anchor.UTC()
	if s.Refill <= 0 {
		return anchor, time.Time{}
	}
	n := now.Sub(anchor) / s.Refill
	if now.Before(anchor) {
		n = 0
	}
	start = anchor.Add(n * s.Refill)
	return start, start.Add(s.Refill)
}

// Allowance is what the period starting at start allows: Limit (for
// credits refilled, RefillAmount after the first period), plus the top-up
// made in that period.
func (s Spec) Allowance(start time.Time) int64 {
	n := s.Limit
	if s.Kind == Credits && s.Refill > 0 && s.RefillAmount > 0 && start.After(s.Anchor) {
		n = s.RefillAmount
	}
	if s.TopUp > 0 && s.TopUpPeriod.Equal(start) {
		n += s.TopUp
	}
	return n
}

// Remaining is what is left of the period starting at start once spent is
// spent; never below 0.
func (s Spec) Remaining(start time.Time, spent int64) int64 {
	return max(0, s.Allowance(start)-spent)
}

// RefillSeconds is s.Refill in whole seconds, as stored.
func (s Spec) RefillSeconds() int { return int(s.Refill / time.Second) }
