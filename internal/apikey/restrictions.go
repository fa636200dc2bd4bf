package apikey

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"keyplane/internal/quota"
)

// Restriction names one of a key's restrictions that can be enforced or
// only reported.
type Restriction string

// The restrictions, in the data plane's order of checks.
const (
	RestrictIPs       Restriction = "ips"
	RestrictDomains   Restriction = "domains"
	RestrictRateLimit Restriction = "rate_limit"
	RestrictScopes    Restriction = "scopes"
	RestrictQuota     Restriction = "quota"
)

// Restrictions lists every restriction, in the data plane's order.
var Restrictions = []Restriction{RestrictIPs, RestrictDomains, RestrictRateLimit, RestrictScopes, RestrictQuota}

// Column is the api_keys column that holds r's report-only flag.
func (r Restriction) Column() string { return "report_" + string(r) }

// Label is r in words, for the dashboard and messages.
func (r Restriction) Label() string {
	switch r {
	case RestrictIPs:
		return "IP allowlist"
	case RestrictDomains:
		return "Allowed domains"
	case RestrictRateLimit:
		return "Rate limit"
	case RestrictScopes:
		return "Scopes"
	case RestrictQuota:
		return "Quota"
	}
	return string(r)
}

// ParseRestriction returns the restriction named s.
func ParseRestriction(s string) (Restriction, bool) {
	for _, r := range Restrictions {
		if string(r) == strings.TrimSpace(s) {
			return r, true
		}
	}
	return "", false
}

// ReportOnly says which of a key's restrictions are in report-only mode.
type ReportOnly struct {
	IPs, Domains, RateLimit, Scopes, Quota bool
}

// Has reports whether r is report-only.
func (m ReportOnly) Has(r Restriction) bool {
	switch r {
	case RestrictIPs:
		return m.IPs
	case RestrictDomains:
		return m.Domains
	case RestrictRateLimit:
		return m.RateLimit
	case RestrictScopes:
		return m.Scopes
	case RestrictQuota:
		return m.Quota
	}
	return false
}

// With returns m with r report-only (on) or enforced.
func (m ReportOnly) With(r Restriction, on bool) ReportOnly {
	switch r {
	case RestrictIPs:
		m.IPs = on
	case RestrictDomains:
		m.Domains = on
	case RestrictRateLimit:
		m.RateLimit = on
	case RestrictScopes:
		m.Scopes = on
	case RestrictQuota:
		m.Quota = on
	}
	return m
}

// List names the report-only restrictions, in order.
func (m ReportOnly) List() []string {
	var out []string
	for _, r := range Restrictions {
		if m.Has(r) {
			out = append(out, string(r))
		}
	}
	return out
}

// Any reports whether any restriction is report-only.
func (m ReportOnly) Any() bool { return m != ReportOnly{} }

// ReportOnly returns which of k's restrictions are report-only.
func (k Key) ReportOnly() ReportOnly {
	return ReportOnly{IPs: k.ReportIPs, Domains: k.ReportDomains, RateLimit: k.ReportRateLimit, Scopes: k.ReportScopes, Quota: k.ReportQuota}
}

// setReportOnly sets k's flags from m.
func (k *Key) setReportOnly(m ReportOnly) {
	k.ReportIPs, k.ReportDomains, k.ReportRateLimit, k.ReportScopes, k.ReportQuota = m.IPs, m.Domains, m.RateLimit, m.Scopes, m.Quota
}

// reportOnlyMap is m as the column values of an update.
func reportOnlyMap(m ReportOnly) map[string]any {
	out := map[string]any{}
	for _, r := range Restrictions {
		out[r.Column()] = m.Has(r)
	}
	return out
}

// parseReportOnly reads restriction names; unknown ones are an error
// message for the field.
func parseReportOnly(names []string) (ReportOnly, string) {
	var m ReportOnly
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			continue
		}
		r, ok := ParseRestriction(n)
		if !ok {
			return ReportOnly{}, fmt.Sprintf("Unknown restriction %q: use ips, domains, rate_limit, scopes or quota.", truncate(n, 40))
		}
		m = m.With(r, true)
	}
	return m, ""
}

// QuotaInput is a quota as typed into a form: all empty for none.
type QuotaInput struct {
	Kind   string // "day", "month", "credits", or "" for none
	Limit  string // requests per period, or the credits
	Refill string // credits only: an interval such as "30m", "1h", "1d", "30d"; "" for never
	// RefillAmount is the balance each refill sets (credits refilled
	// only); "" for Limit.
	RefillAmount string
}

// validateQuota turns in into a Spec (nil for none), or a message per
// field under the prefix's names (quota_kind, quota_limit, quota_refill,
// quota_refill_amount).
func validateQuota(in QuotaInput, errs map[string]string, prefix string) *quota.Spec {
	kind := strings.TrimSpace(in.Kind)
	limit, refill := strings.TrimSpace(in.Limit), strings.TrimSpace(in.Refill)
	if kind == "" || kind == "none" {
		if limit != "" && kind == "" {
			errs[prefix+"quota_kind"] = "Choose what the quota counts: requests per day, requests per month or credits."
		}
		return nil
	}
	s := quota.Spec{Kind: quota.Kind(kind)}
	switch s.Kind {
	case quota.Day, quota.Month, quota.Credits:
	default:
		errs[prefix+"quota_kind"] = "Choose requests per day, requests per month or credits."
		return nil
	}
	n, err := strconv.ParseInt(limit, 10, 64)
	if err != nil || n < 1 || n > quota.MaxLimit {
		errs[prefix+"quota_limit"] = "Enter a whole number from 1 to " + Thousands(quota.MaxLimit) + "."
		return nil
	}
	s.Limit = n
	if refill != "" {
		if s.Kind != quota.Credits {
			errs[prefix+"quota_refill"] = "Only credits are refilled; leave the refill empty."
			return nil
		}
		d, err := ParseInterval(refill)
		switch {
		case err != nil || d <= 0:
			errs[prefix+"quota_refill"] = "Enter an interval such as 30m, 1h, 1d or 30d."
			return nil
		case d < quota.MinRefill:
			errs[prefix+"quota_refill"] = "Refill at most once a minute."
			return nil
		case d > quota.MaxRefill:
			errs[prefix+"quota_refill"] = "Refill at least once every 366 days."
			return nil
		}
		s.Refill = d
	}
	if a := strings.TrimSpace(in.RefillAmount); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		switch {
		case s.Refill == 0:
			errs[prefix+"quota_refill_amount"] = "Set a refill interval, or leave the refill amount empty."
			return nil
		case err != nil || n < 1 || n > quota.MaxLimit:
			errs[prefix+"quota_refill_amount"] = "Enter a whole number from 1 to " + Thousands(quota.MaxLimit) + "."
			return nil
		}
		s.RefillAmount = n
	}
	return &s
}

// ParseInterval reads an interval of whole minutes, hours or days ("30m",
// "1h", "7d") or a Go duration ("1h30m").
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100_000 {
			return 0, fmt.Errorf("bad interval %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d%time.Second != 0 {
		return 0, fmt.Errorf("bad interval %q", s)
	}
	return d, nil
}

// FormatInterval writes d as ParseInterval reads it, in the largest whole
// unit.
func FormatInterval(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}

// nextQuota is what a key (or organization) stores once its quota becomes
// next, having been prev, at now: an unchanged kind and refill keeps its
// anchor and top-up, so editing the amount keeps what was spent and
// added; a new kind or refill drops the top-up, and credits count from a
// new anchor, now. (Requests per day or month count in calendar periods:
// what the current one spent still counts under the new kind when both
// periods start at the same instant.)
func nextQuota(prev *quota.Spec, next *quota.Spec, now time.Time) *quota.Spec {
	if next == nil {
		return nil
	}
	out := *next
	if prev != nil && prev.Kind == next.Kind && prev.Refill == next.Refill {
		out.Anchor, out.TopUp, out.TopUpPeriod = prev.Anchor, prev.TopUp, prev.TopUpPeriod
	} else {
		out.Anchor, out.TopUp, out.TopUpPeriod = now.UTC().Truncate(time.Second), 0, time.Time{}
	}
	if out.Kind != quota.Credits {
		out.Anchor = time.Time{}
	}
	return &out
}

// QuotaSpec returns k's own quota, or nil.
func (k Key) QuotaSpec() *quota.Spec {
	s, ok := k.Columns.Spec()
	if !ok {
		return nil
	}
	return &s
}
