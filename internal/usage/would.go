package usage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Report-only restrictions let through a request they would refuse and
// count it as would_<code> (would_ip_not_allowed, ...): such a request was
// allowed. The data plane also notes its client address under the source
// kind SourceWouldIP.
const (
	// WouldPrefix starts the outcome of a request a report-only
	// restriction let through.
	WouldPrefix = "would_"
	// SourceWouldIP is the source kind of the client addresses of those
	// requests.
	SourceWouldIP = "would_ip"
)

// WouldDays is how far back a key's page and its API count what its
// report-only restrictions let through.
const WouldDays = 7

// IsWould reports whether outcome is a request a report-only restriction
// would have refused (and let through).
func IsWould(outcome string) bool { return strings.HasPrefix(outcome, WouldPrefix) }

// Passed reports whether a request with outcome was let through: allowed,
// or only reported by a report-only restriction.
func Passed(outcome string) bool { return outcome == Allowed || IsWould(outcome) }

// The restrictions of a key, as apikey names them.
const (
	RestrictionIPs       = "ips"
	RestrictionDomains   = "domains"
	RestrictionRateLimit = "rate_limit"
	RestrictionScopes    = "scopes"
	RestrictionQuota     = "quota"
)

// RestrictionOf names the restriction that refuses with code, with or
// without the would_ prefix: ips for ip_not_allowed, domains for
// domain_not_allowed and anonymous_request, rate_limit for rate_limited,
// scopes for forbidden, quota for quota_exceeded; "" for any other code.
func RestrictionOf(code string) string {
	switch strings.TrimPrefix(code, WouldPrefix) {
	case "ip_not_allowed":
		return RestrictionIPs
	case "domain_not_allowed", "anonymous_request":
		return RestrictionDomains
	case "rate_limited":
		return RestrictionRateLimit
	case "forbidden":
		return RestrictionScopes
	case "quota_exceeded":
		return RestrictionQuota
	}
	return ""
}

// WouldRefuse is what a key's report-only restrictions let through that
// they would have refused.
type WouldRefuse struct {
	// Total is every such request.
	Total int64
	// Codes are the requests per refusal code, without the would_ prefix
	// ("ip_not_allowed": 214).
	Codes map[string]int64
	// Restrictions are the requests per restriction that would have
	// refused them (RestrictionOf).
	Restrictions map[string]int64
	// IPs is how many distinct client addresses sent them; MoreIPs is set
	// when some addresses were past the bounds of what is kept, so there
	// were more.
	IPs     int
	MoreIPs bool
}

// WouldRefuse returns what the report-only restrictions of key keyID of
// orgID let through from the hour holding since onwards (the addresses
// from the UTC day holding since). A key of another organization has
// none. Any member may read it.
func (r *Reader) WouldRefuse(ctx context.Context, orgID, keyID string, since time.Time) (WouldRefuse, error) {
	out := WouldRefuse{Codes: map[string]int64{}, Restrictions: map[string]int64{}}
	var rows []struct {
		Outcome string
		Total   int64
	}
	// The key's hours in the window, every outcome: the primary key
	// (key_id, hour, ...) serves, and the would_ ones are picked here
	// rather than with a LIKE whose escaping differs between dialects.
	err := r.db.Conn(ctx).Model(&Hourly{}).
		Select("outcome, SUM(count) AS total").
		Where("key_id = ? AND org_id = ? AND hour >= ?", keyID, orgID, Hour.start(since)).
		Group("outcome").
		Scan(&rows).Error
	if err != nil {
		return WouldRefuse{}, fmt.Errorf("usage: would refuse: %w", err)
	}
	for _, row := range rows {
		if !IsWould(row.Outcome) || row.Total == 0 {
			continue
		}
		code := strings.TrimPrefix(row.Outcome, WouldPrefix)
		out.Total += row.Total
		out.Codes[code] += row.Total
		if r := RestrictionOf(code); r != "" {
			out.Restrictions[r] += row.Total
		}
	}
	var values []string
	err = r.db.Conn(ctx).Model(&Source{}).Distinct("value").
		Where("key_id = ? AND org_id = ? AND kind = ? AND day >= ?", keyID, orgID, SourceWouldIP, Day.start(since)).
		Pluck("value", &values).Error
	if err != nil {
		return WouldRefuse{}, fmt.Errorf("usage: would refuse addresses: %w", err)
	}
	for _, v := range values {
		if v == "" {
			out.MoreIPs = true
			continue
		}
		out.IPs++
	}
	return out, nil
}

// Reported sums the requests of pts that report-only restrictions let
// through, per would_<code> outcome, most first; ties go by outcome.
func Reported(pts []Point) []CodeTotal {
	sums := map[string]int64{}
	for _, p := range pts {
		for outcome, n := range p.Counts {
			if IsWould(outcome) && n > 0 {
				sums[outcome] += n
			}
		}
	}
	rows := make([]CodeTotal, 0, len(sums))
	for code, n := range sums {
		rows = append(rows, CodeTotal{Code: code, Total: n})
	}
	sortCodes(rows)
	return rows
}
