package web

import (
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/config"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// keyUsage is the usage section of key k's page: the chart of the period
// the viewer chose (?period=24h, 7d or 30d; 24h otherwise), its hours in
// the viewer's time zone, and the scopes its requests needed.
func (s *Server) keyUsage(c echo.Context, k apikey.Key) (keys.Usage, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	now := s.now()
	loc := viewerZone(c)
	u := keys.Usage{URL: keys.KeyURL(m.Slug, k.ID), Zone: loc.String()}
	u.Period = oneOf(c.QueryParam("period"), keys.Period7d, keys.Period30d)
	if u.Period == "" {
		u.Period = keys.Period24h
	}
	switch u.Period {
	case keys.Period24h:
		from, to := usage.Last24Hours(now)
		pts, err := s.usageReader.KeySeries(ctx, m.ID, k.ID, from, to, usage.Hour)
		if err != nil {
			return u, err
		}
		u.Chart = chartOf("usage-hourly", "Requests per hour, last 24 hours ("+loc.String()+")", pts, usage.Hour, loc)
	default:
		days := 7
		if u.Period == keys.Period30d {
			days = 30
		}
		from, to := usage.LastDays(now, days)
		pts, err := s.usageReader.KeySeries(ctx, m.ID, k.ID, from, to, usage.Day)
		if err != nil {
			return u, err
		}
		u.Chart = chartOf("usage-daily", "Requests per day, last "+strconv.Itoa(days)+" days (UTC days)", pts, usage.Day, time.UTC)
	}

	from, _ := usage.LastDays(now, usage.OverviewDays)
	used, err := s.usageReader.RequiredScopes(ctx, m.ID, k.ID, from)
	if err != nil {
		return u, err
	}
	u.Scopes, u.Unused, u.Broad, u.Needed = scopeRows(k.Scopes, used)
	return u, nil
}

// scopeRows sets the scopes a key holds beside those its requests needed:
// the granted ones first, in the key's order, then the others by name. It
// names the granted scopes no request needed (the built-in ones aside:
// admin is judged by what was needed, keys:manage serves the management
// API, which the data plane does not count) and, for a key holding admin,
// the scopes its requests needed.
func scopeRows(granted []string, used usage.ScopeUses) (rows []keys.ScopeRow, unused []string, broad bool, needed []string) {
	byScope := map[string]usage.ScopeUse{}
	for _, u := range used.Scopes {
		byScope[u.Scope] = u
		if u.Scope != usage.TooLong {
			needed = append(needed, u.Scope)
		}
	}
	broad = slices.Contains(granted, config.ScopeAdmin)
	for _, g := range granted {
		u := byScope[g]
		if g == config.ScopeAdmin {
			u = usage.ScopeUse{Requests: used.Requests}
		}
		rows = append(rows, keys.ScopeRow{Scope: g, Granted: true, Requests: u.Requests, Forbidden: u.Forbidden})
		if u.Requests == 0 && g != config.ScopeAdmin && g != config.ScopeKeysManage {
			unused = append(unused, g)
		}
	}
	for _, u := range used.Scopes {
		if !slices.Contains(granted, u.Scope) {
			rows = append(rows, keys.ScopeRow{Scope: u.Scope, ViaAdmin: broad, Requests: u.Requests, Forbidden: u.Forbidden})
		}
	}
	return rows, unused, broad, needed
}
