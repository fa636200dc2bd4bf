package web

import (
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/config"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// keyUsage is the usage section of key k's page: the chart of the period
// the viewer chose (see keyPeriod), its hours in the viewer's time zone,
// a link to download it as CSV, and the scopes its requests needed. A
// custom range that cannot be shown gives the last 24 hours and the
// form's message (Usage.Custom.Error), for a 422.
func (s *Server) keyUsage(c echo.Context, k apikey.Key) (keys.Usage, error) {
	ctx := c.Request().Context()
	m := currentMembership(c)
	loc := viewerZone(c)
	u := keys.Usage{URL: keys.KeyURL(m.Slug, k.ID), Zone: loc.String()}
	r, rangeErr := s.keyPeriod(c)
	if rangeErr != nil {
		r = s.presetDays(keys.Period24h)
	}
	u.Period = r.Name
	custom := s.dateRangeForm(c, r, rangeErr)
	u.Custom = keys.DateRange{From: custom.From, To: custom.To, Min: custom.Min, Max: custom.Max, Error: custom.Error}
	u.CSVURL = u.URL + "/usage.csv?" + r.Query("period").Encode()
	pts, err := s.usageReader.KeySeries(ctx, m.ID, k.ID, r.From, r.To, r.Bucket)
	if err != nil {
		return u, err
	}
	if r.Bucket == usage.Hour {
		u.Chart = chartOf("usage-hourly", "Requests per hour, last 24 hours ("+loc.String()+")", pts, usage.Hour, loc)
	} else {
		u.Chart = chartOf("usage-daily", "Requests per day, "+r.Label()+" (UTC days)", pts, usage.Day, time.UTC)
	}

	from, _ := usage.LastDays(s.now(), usage.OverviewDays)
	used, err := s.usageReader.RequiredScopes(ctx, m.ID, k.ID, from)
	if err != nil {
		return u, err
	}
	u.Scopes, u.Unused, u.Broad, u.Needed = scopeRows(k.Scopes, used)
	return u, nil
}

// keyPeriod is the period the key page's query asks for: ?period=24h
// (hours), 7d or 30d (UTC days), 24h for anything else, or custom with
// from and to, which customDays checks.
func (s *Server) keyPeriod(c echo.Context) (usageRange, error) {
	switch p := c.QueryParam("period"); p {
	case keys.PeriodCustom:
		return s.customDays(c.QueryParam("from"), c.QueryParam("to"))
	case keys.Period7d, keys.Period30d:
		return s.presetDays(p), nil
	}
	return s.presetDays(keys.Period24h), nil
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
