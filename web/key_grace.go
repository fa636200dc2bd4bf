package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/usage"
	"keyplane/views/components"
	"keyplane/views/keys"
)

// cutoverHours bounds the cut-over chart: the hours since the rotation, at
// most this many, always the current one.
const cutoverHours = 24

// cutover is the "Rotation in progress" panel of key k, the new key of a
// rotation, which every member sees while the key k replaced still works in
// its grace period; nil otherwise. Only admins get the end-grace action.
func (s *Server) cutover(c echo.Context, k apikey.Key, now time.Time) (*keys.Cutover, error) {
	if k.ReplacesID == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	m := currentMembership(c)
	old, err := s.keys.Predecessor(ctx, m.ID, k.ID)
	if apperr.Is(err, apperr.Conflict) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	current := now.UTC().Truncate(time.Hour)
	from := k.CreatedAt.UTC().Truncate(time.Hour)
	if earliest := current.Add(-(cutoverHours - 1) * time.Hour); from.Before(earliest) {
		from = earliest
	}
	if from.After(current) {
		from = current
	}
	pts, err := s.usageReader.Cutover(ctx, m.ID, old.ID, k.ID, from, current.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	deadline := *old.Deadline()
	loc := viewerZone(c)
	vm := &keys.Cutover{
		OldHint: old.Hint, NewHint: k.Hint, Zone: loc.String(),
		Deadline: relative(deadline, now), DeadlineExact: deadline.UTC().Format(exactLayout),
		DeadlineISO: deadline.UTC().Format(time.RFC3339), LastHourFrom: hourLabel(current, loc),
	}
	vm.Chart = components.Chart{
		ID: keys.CutoverChartID, Title: "Requests per hour since the rotation (" + loc.String() + ", every outcome)",
		Axis: "Hours in " + loc.String(),
		Series: []components.Series{
			{Key: "old", Name: "Old key " + old.Hint, Color: keys.CutoverOldColor},
			{Key: "new", Name: "New key " + k.Hint, Color: keys.CutoverNewColor},
		},
	}
	for _, p := range pts {
		vm.Hours = append(vm.Hours, keys.CutoverHour{Label: hourLabel(p.Start, loc), Old: p.Old, New: p.New})
		vm.Chart.Bars = append(vm.Chart.Bars, components.Bar{
			Label: hourLabel(p.Start, loc), Short: p.Start.In(loc).Format("15:04"),
			Counts: map[string]int64{"old": p.Old, "new": p.New},
		})
	}
	if n := len(pts); n > 0 {
		vm.LastHour = pts[n-1].Old
	}
	if isOrgAdmin(c) {
		vm.EndURL = keys.EndGraceURL(m.Slug, k.ID)
	}
	vm.Quiet = cutoverQuiet(old, now)
	src, err := s.usageReader.Sources(ctx, m.ID, old.ID, k.CreatedAt)
	if err != nil {
		return nil, err
	}
	vm.StillUsing = sourcesView(usage.SinceTime(src, k.CreatedAt), now)
	return vm, nil
}

// cutoverQuiet states the quiet-hour rule of old, the rotated key, at
// now; nil when its rotation did not ask for it.
func cutoverQuiet(old apikey.Key, now time.Time) *keys.CutoverQuiet {
	since, ok := old.QuietSince()
	if !ok {
		return nil
	}
	ends := since.Add(apikey.QuietPeriod)
	if ends.Before(now) {
		ends = now // due: the next pass ends it
	}
	q := &keys.CutoverQuiet{
		RotatedAgo: relative(*old.GraceQuietFrom, now),
		Ends:       relative(ends, now.Add(-time.Second)), EndsExact: ends.UTC().Format(exactLayout), EndsISO: ends.UTC().Format(time.RFC3339),
	}
	if old.LastUsedAt != nil && !old.LastUsedAt.Before(*old.GraceQuietFrom) {
		q.LastRequest = relative(*old.LastUsedAt, now)
	}
	return q
}

// hourLabel names an hour bucket in loc: "14:00 UTC", "19:30 IST".
func hourLabel(t time.Time, loc *time.Location) string { return t.In(loc).Format("15:04 MST") }

// keyEndGraceConfirm asks before ending the grace period of the key that
// key :id replaced: a dialog for htmx, a page otherwise. Admins only.
func (s *Server) keyEndGraceConfirm(c echo.Context) error {
	m := currentMembership(c)
	old, err := s.keys.Predecessor(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	now := s.now()
	deadline := *old.Deadline()
	vm := keys.EndGraceConfirm{
		Slug: m.Slug, CSRFToken: csrfToken(c), ID: *old.ReplacedByID, OldHint: old.Hint, OldDesc: old.Description,
		Deadline: relative(deadline, now), DeadlineExact: deadline.UTC().Format(exactLayout),
	}
	return dialog(s, c, http.StatusOK, "End the grace period of "+old.Description, keys.EndGraceModal, keys.EndGraceScreen, vm)
}

// keyEndGrace ends the grace period of the key that key :id replaced, so
// it answers key_expired at once, and goes back to key :id. Admins only.
func (s *Server) keyEndGrace(c echo.Context) error {
	m := currentMembership(c)
	old, err := s.keys.EndGrace(c.Request().Context(), m.ID, c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, fmt.Sprintf("Ended the grace period of %s (%s): it no longer works.", old.Hint, old.Description))
	return redirect(c, keys.KeyURL(m.Slug, *old.ReplacedByID))
}
