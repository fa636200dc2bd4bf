package web

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// sourcesDays is how far back "Where it is used" looks.
const sourcesDays = 30

// keySources is "Where it is used" for key k: its addresses and origins of
// the last 30 days.
func (s *Server) keySources(c echo.Context, k apikey.Key, now time.Time) (keys.Sources, error) {
	src, err := s.usageReader.Sources(c.Request().Context(), currentMembership(c).ID, k.ID, now.AddDate(0, 0, -sourcesDays))
	if err != nil {
		return keys.Sources{}, err
	}
	return sourcesView(src, now), nil
}

func sourcesView(src usage.KeySources, now time.Time) keys.Sources {
	out := keys.Sources{Days: sourcesDays, IPs: sourceRows(src.IPs, now), Origins: sourceRows(src.Origins, now)}
	if src.OtherRequests > 0 {
		what := "addresses not listed"
		if len(src.IPs) == 0 {
			what = "unknown addresses"
		}
		out.Other = fmt.Sprintf("%s from %s.", apikey.Count(src.OtherRequests, "request", "requests"), what)
	}
	return out
}

func sourceRows(list []usage.SourceUse, now time.Time) []keys.Source {
	rows := make([]keys.Source, 0, len(list))
	for _, u := range list {
		rows = append(rows, keys.Source{
			Value: u.Value, Requests: apikey.Thousands(u.Requests), LastSeen: relative(u.LastSeen, now),
			LastExact: u.LastSeen.UTC().Format(exactLayout), LastISO: u.LastSeen.UTC().Format(time.RFC3339),
		})
	}
	return rows
}
