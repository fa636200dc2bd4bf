package usage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TooLong is the scope label the data plane counts a request under when
// its required scopes do not fit a label.
const TooLong = "(too long)"

// ScopeUse is how many requests of a key required one scope, and how many
// of those were refused with forbidden (the key lacked a required scope).
type ScopeUse struct {
	Scope     string
	Requests  int64
	Forbidden int64
}

// ScopeUses are the scopes a key's requests required.
type ScopeUses struct {
	// Scopes are by name; a request that required several scopes counts
	// once for each.
	Scopes []ScopeUse
	// Requests is how many requests required at least one scope.
	Requests int64
}

// RequiredScopes returns the scopes the requests of key keyID of orgID
// required, counted from the hour holding since onwards. A key of another
// organization yields nothing.
func (r *Reader) RequiredScopes(ctx context.Context, orgID, keyID string, since time.Time) (ScopeUses, error) {
	var rows []struct {
		Scope   string
		Outcome string
		Total   int64
	}
	err := r.db.Conn(ctx).Model(&Hourly{}).
		Select("scope, outcome, SUM(count) AS total").
		Where("org_id = ? AND key_id = ? AND hour >= ? AND scope <> ''", orgID, keyID, Hour.start(since)).
		Group("scope, outcome").
		Scan(&rows).Error
	if err != nil {
		return ScopeUses{}, fmt.Errorf("usage: required scopes: %w", err)
	}
	var out ScopeUses
	byScope := map[string]*ScopeUse{}
	for _, r := range rows {
		out.Requests += r.Total
		names := strings.Fields(r.Scope)
		if r.Scope == TooLong {
			names = []string{TooLong}
		}
		for _, s := range names {
			u := byScope[s]
			if u == nil {
				u = &ScopeUse{Scope: s}
				byScope[s] = u
			}
			u.Requests += r.Total
			if r.Outcome == "forbidden" {
				u.Forbidden += r.Total
			}
		}
	}
	for _, u := range byScope {
		out.Scopes = append(out.Scopes, *u)
	}
	sort.Slice(out.Scopes, func(i, j int) bool { return out.Scopes[i].Scope < out.Scopes[j].Scope })
	return out, nil
}
