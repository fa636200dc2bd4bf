package usage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of a suggestion: what a key's allowlists can hold.
const (
	// SuggestIPs bounds the addresses proposed, the most used first
	// (apikey.MaxIPs).
	SuggestIPs = 100
	// SuggestOrigins bounds the origins proposed (apikey.MaxDomains).
	SuggestOrigins = 50
	// SuggestDays is how far back the key page's suggestion looks.
	SuggestDays = 30
)

// Suggestion is what a key's traffic used: the restrictions that would let
// all of it through and nothing else.
type Suggestion struct {
	// IPs are the client addresses seen, Origins the web origins
	// (scheme://host[:port]), the most used first.
	IPs, Origins []SourceUse
	// Scopes are the scopes the requests that were let through needed,
	// by name (TooLong aside).
	Scopes []ScopeUse
	// OtherRequests came from addresses not listed: past the bounds of
	// what is kept per day, past SuggestIPs, or unknown. OtherOrigins came
	// from origins not listed, past those bounds.
	OtherRequests int64
	OtherOrigins  int64
	// TooLongRequests needed scopes too long to record, which no
	// suggestion can name.
	TooLongRequests int64
}

// Empty reports whether the key had no traffic to learn from.
func (s Suggestion) Empty() bool {
	return len(s.IPs) == 0 && len(s.Origins) == 0 && len(s.Scopes) == 0 && s.OtherRequests == 0 && s.TooLongRequests == 0
}

// Values are the values of list, in its order.
func Values(list []SourceUse) []string {
	out := make([]string, len(list))
	for i, u := range list {
		out[i] = u.Value
	}
	return out
}

// ScopeNames are the names of list, in its order.
func ScopeNames(list []ScopeUse) []string {
	out := make([]string, len(list))
	for i, u := range list {
		out[i] = u.Scope
	}
	return out
}

// Suggest returns what key keyID of orgID used since since: every client
// address and origin of its requests from the UTC day holding since (at
// most SuggestIPs and SuggestOrigins, the most used first), and the
// scopes needed by its requests that were let through (allowed, or
// reported by a report-only restriction) from the hour holding since. A
// key of another organization used nothing. Any member may read it.
func (r *Reader) Suggest(ctx context.Context, orgID, keyID string, since time.Time) (Suggestion, error) {
	var out Suggestion
	// At most sourceRowsPerDay rows per kind and day: summed here, as
	// Sources does, since SQLite reads an aggregated time back as text.
	var rows []Source
	err := r.db.Conn(ctx).
		Where("key_id = ? AND org_id = ? AND kind IN ? AND day >= ?", keyID, orgID, []string{SourceIP, SourceOrigin}, Day.start(since)).
		Find(&rows).Error
	if err != nil {
		return Suggestion{}, fmt.Errorf("usage: suggest sources: %w", err)
	}
	sums := map[[2]string]*SourceUse{}
	for _, row := range rows {
		k := [2]string{row.Kind, row.Value}
		u := sums[k]
		if u == nil {
			u = &SourceUse{Value: row.Value}
			sums[k] = u
		}
		u.Requests += row.Count
		if row.LastSeen.After(u.LastSeen) {
			u.LastSeen = row.LastSeen.UTC()
		}
	}
	for k, u := range sums {
		switch {
		case k[0] == SourceIP && k[1] == "":
			out.OtherRequests += u.Requests
		case k[0] == SourceIP:
			out.IPs = append(out.IPs, *u)
		case k[1] == "":
			out.OtherOrigins += u.Requests
		default:
			out.Origins = append(out.Origins, *u)
		}
	}
	byUse := func(a, b SourceUse) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Value, b.Value))
	}
	slices.SortFunc(out.IPs, byUse)
	slices.SortFunc(out.Origins, byUse)
	if len(out.IPs) > SuggestIPs {
		for _, u := range out.IPs[SuggestIPs:] {
			out.OtherRequests += u.Requests
		}
		out.IPs = out.IPs[:SuggestIPs]
	}
	if len(out.Origins) > SuggestOrigins {
		for _, u := range out.Origins[SuggestOrigins:] {
			out.OtherOrigins += u.Requests
		}
		out.Origins = out.Origins[:SuggestOrigins]
	}

	var scoped []struct {
		Scope   string
		Outcome string
		Total   int64
	}
	err = r.db.Conn(ctx).Model(&Hourly{}).
		Select("scope, outcome, SUM(count) AS total").
		Where("key_id = ? AND org_id = ? AND hour >= ? AND scope <> ''", keyID, orgID, Hour.start(since)).
		Group("scope, outcome").
		Scan(&scoped).Error
	if err != nil {
		return Suggestion{}, fmt.Errorf("usage: suggest scopes: %w", err)
	}
	byScope := map[string]int64{}
	for _, row := range scoped {
		switch {
		case !Passed(row.Outcome):
		case row.Scope == TooLong:
			out.TooLongRequests += row.Total
		default:
			for _, s := range strings.Fields(row.Scope) {
				byScope[s] += row.Total
			}
		}
	}
	for s, n := range byScope {
		out.Scopes = append(out.Scopes, ScopeUse{Scope: s, Requests: n})
	}
	slices.SortFunc(out.Scopes, func(a, b ScopeUse) int { return strings.Compare(a.Scope, b.Scope) })
	return out, nil
}
