package verify

import "keyplane/internal/apikey"

// Report holds which restrictions of a key only report what they would
// refuse, one bit each.
type Report uint8

// The report-only bits.
const (
	ReportIPs Report = 1 << iota
	ReportDomains
	ReportRateLimit
	ReportScopes
	ReportQuota    // the key's own quota
	ReportOrgQuota // the organization's quota
)

// reportOf is the bits of m, with the organization's quota's mode.
func reportOf(m apikey.ReportOnly, orgQuota bool) Report {
	var r Report
	set := func(bit Report, on bool) {
		if on {
			r |= bit
		}
	}
	set(ReportIPs, m.IPs)
	set(ReportDomains, m.Domains)
	set(ReportRateLimit, m.RateLimit)
	set(ReportScopes, m.Scopes)
	set(ReportQuota, m.Quota)
	set(ReportOrgQuota, orgQuota)
	return r
}

// wouldCode is the usage outcome of a request that code would have
// refused, had its restriction been enforced.
func wouldCode(code string) string {
	switch code {
	case CodeIPNotAllowed:
		return WouldIPNotAllowed
	case CodeDomainNotAllowed:
		return WouldDomainNotAllowed
	case CodeAnonymous:
		return WouldAnonymous
	case CodeRateLimited:
		return WouldRateLimited
	case CodeForbidden:
		return WouldForbidden
	case CodeQuotaExceeded:
		return WouldQuotaExceeded
	}
	return "would_" + code
}

// The outcomes of requests a report-only restriction let through.
const (
	WouldIPNotAllowed     = "would_" + CodeIPNotAllowed
	WouldDomainNotAllowed = "would_" + CodeDomainNotAllowed
	WouldAnonymous        = "would_" + CodeAnonymous
	WouldRateLimited      = "would_" + CodeRateLimited
	WouldForbidden        = "would_" + CodeForbidden
	WouldQuotaExceeded    = "would_" + CodeQuotaExceeded
)
