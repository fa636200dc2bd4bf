package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/quota"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// keyRestrictions sets the parts of key k's page about its restrictions:
// the Restrictions panel, and "Restrict to what it uses" for admins.
func (s *Server) keyRestrictions(c echo.Context, k apikey.Key, now time.Time, d *keys.Detail) error {
	var err error
	if d.Restrictions, err = s.restrictionsPanel(c, k, now); err != nil {
		return err
	}
	d.Suggestions, err = s.keySuggestions(c, k, now)
	return err
}

// restrictionsPanel is key k's Restrictions panel: each restriction it has
// (or has in report-only mode), its mode, and what the report-only ones
// let through in the last 7 days.
func (s *Server) restrictionsPanel(c echo.Context, k apikey.Key, now time.Time) (keys.Restrictions, error) {
	m := currentMembership(c)
	w, err := s.usageReader.WouldRefuse(c.Request().Context(), m.ID, k.ID, now.AddDate(0, 0, -usage.WouldDays))
	if err != nil {
		return keys.Restrictions{}, err
	}
	r := keys.Restrictions{Slug: m.Slug, KeyID: k.ID, CSRFToken: csrfToken(c), CanSwitch: isOrgAdmin(c) && k.Editable(now)}
	modes := k.ReportOnly()
	for _, name := range apikey.Restrictions {
		if !k.Has(name) && !modes.Has(name) {
			continue
		}
		row := keys.RestrictionRow{Name: string(name), Label: name.Label(), Setting: restrictionSetting(k, name), ReportOnly: modes.Has(name)}
		if row.ReportOnly {
			row.Would = "Would have refused " + requestsText(w.Restrictions[string(name)]) + " in the last 7 days."
		}
		r.Rows = append(r.Rows, row)
	}
	if modes.Any() {
		r.Summary = wouldSummary(w, modes)
	}
	return r, nil
}

// wouldSummary is the key page's line about its restrictions in
// report-only mode now: "Would have refused 214 requests in the last 7
// days, from 3 IPs." What a restriction enforced since then let through
// is left out, and the addresses too when some of theirs might be its
// (they are not kept per restriction).
func wouldSummary(w usage.WouldRefuse, modes apikey.ReportOnly) string {
	var total int64
	for _, r := range modes.List() {
		total += w.Restrictions[r]
	}
	text := "Would have refused " + requestsText(total) + " in the last 7 days"
	switch {
	case total == 0 || w.IPs == 0 || total != w.Total:
	case w.MoreIPs:
		text += ", from more than " + apikey.Count(int64(w.IPs), "IP", "IPs")
	default:
		text += ", from " + apikey.Count(int64(w.IPs), "IP", "IPs")
	}
	return text + "."
}

// requestsText is "no requests", "1 request" or "1,204 requests".
func requestsText(n int64) string {
	if n == 0 {
		return "no requests"
	}
	return apikey.Count(n, "request", "requests")
}

// restrictionSetting says what restriction r of k allows.
func restrictionSetting(k apikey.Key, r apikey.Restriction) string {
	switch r {
	case apikey.RestrictIPs:
		if len(k.IPs) == 0 {
			return "Any address"
		}
		return strings.Join(k.IPs, ", ")
	case apikey.RestrictDomains:
		if len(k.Domains) == 0 {
			return "Any origin"
		}
		return strings.Join(k.Domains, ", ")
	case apikey.RestrictRateLimit:
		return rateLimitText(k)
	case apikey.RestrictScopes:
		if len(k.Scopes) == 0 {
			return "No scopes"
		}
		return strings.Join(k.Scopes, ", ")
	case apikey.RestrictQuota:
		return quotaText(k.QuotaSpec())
	}
	return ""
}

// quotaText says what a quota allows: "1,000 requests per day".
func quotaText(q *quota.Spec) string {
	switch {
	case q == nil:
		return "No quota of its own"
	case q.Kind == quota.Day:
		return apikey.Count(q.Limit, "request", "requests") + " per UTC day"
	case q.Kind == quota.Month:
		return apikey.Count(q.Limit, "request", "requests") + " per UTC month"
	case q.Refill > 0:
		return apikey.Count(q.Limit, "credit", "credits") + ", refilled " + apikey.Every(q.Refill)
	}
	return apikey.Count(q.Limit, "credit", "credits")
}

// refusalText says how a restriction refuses once enforced.
func refusalText(r apikey.Restriction) string {
	switch r {
	case apikey.RestrictIPs:
		return "Requests from other addresses will be refused within a second, everywhere."
	case apikey.RestrictDomains:
		return "Requests from other origins, or with none, will be refused within a second, everywhere."
	case apikey.RestrictRateLimit:
		return "Requests past the limit will be refused within a second, everywhere."
	case apikey.RestrictScopes:
		return "Requests needing a scope the key lacks will be refused within a second, everywhere."
	}
	return "Requests past the quota will be refused within a second, everywhere."
}

// keySuggestions is "Restrict to what it uses" for key k: nil unless the
// viewer is an admin and k can change.
func (s *Server) keySuggestions(c echo.Context, k apikey.Key, now time.Time) (*keys.Suggestions, error) {
	if !isOrgAdmin(c) || !k.Editable(now) {
		return nil, nil
	}
	used, sg, left, err := s.suggestionOf(c, k, now)
	if err != nil {
		return nil, err
	}
	m := currentMembership(c)
	vm := &keys.Suggestions{Slug: m.Slug, KeyID: k.ID, CSRFToken: csrfToken(c), Days: usage.SuggestDays, Public: k.Kind == apikey.Public}
	vm.IPs = sourceRows(proposed(used.IPs, sg.IPs), now)
	vm.Origins = sourceRows(proposed(used.Origins, sg.Origins), now)
	for _, u := range used.Scopes {
		if slices.Contains(sg.Scopes, u.Scope) {
			vm.Scopes = append(vm.Scopes, keys.Source{Value: u.Scope, Requests: apikey.Thousands(u.Requests)})
		}
	}
	if used.OtherRequests > 0 {
		vm.NotListed = append(vm.NotListed, fmt.Sprintf("%s came from addresses not listed (past what is kept, or unknown): the IP allowlist would refuse them.", upper(requestsText(used.OtherRequests))))
	}
	if vm.Public && used.OtherOrigins > 0 {
		vm.NotListed = append(vm.NotListed, fmt.Sprintf("%s came from origins not listed: the allowed domains would refuse them.", upper(requestsText(used.OtherOrigins))))
	}
	if used.TooLongRequests > 0 {
		vm.NotListed = append(vm.NotListed, fmt.Sprintf("%s needed more scopes than could be recorded.", upper(requestsText(used.TooLongRequests))))
	}
	if len(left) > 0 {
		vm.NotListed = append(vm.NotListed, "Not proposed, since this key cannot hold them: "+strings.Join(left, ", ")+".")
	}
	var what []string
	for _, r := range sg.Restrictions(k) {
		what = append(what, r.Phrase())
	}
	if len(what) > 0 {
		vm.Applies = "Applying sets " + joinWords(what) + " to these, in report-only mode."
		if slices.Contains(k.Scopes, "keys:manage") && len(sg.Scopes) > 0 {
			vm.Applies += " The key keeps keys:manage."
		}
	}
	return vm, nil
}

// suggestionOf is what key k's traffic of the last 30 days used, and what
// of it k can take.
func (s *Server) suggestionOf(c echo.Context, k apikey.Key, now time.Time) (usage.Suggestion, apikey.Suggestion, []string, error) {
	used, err := s.usageReader.Suggest(c.Request().Context(), currentMembership(c).ID, k.ID, now.AddDate(0, 0, -usage.SuggestDays))
	if err != nil {
		return usage.Suggestion{}, apikey.Suggestion{}, nil, err
	}
	sg, left, err := s.keys.Propose(k, usage.Values(used.IPs), usage.Values(used.Origins), usage.ScopeNames(used.Scopes))
	return used, sg, left, err
}

// proposed keeps the uses of list whose value is in values.
func proposed(list []usage.SourceUse, values []string) []usage.SourceUse {
	var out []usage.SourceUse
	for _, u := range list {
		if slices.Contains(values, u.Value) {
			out = append(out, u)
		}
	}
	return out
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// joinWords is "a", "a and b", "a, b and c".
func joinWords(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// restrictionParam is the :name of a restriction route; any other name is
// not found.
func restrictionParam(c echo.Context) (apikey.Restriction, error) {
	r, ok := apikey.ParseRestriction(c.Param("name"))
	if !ok || c.Param("name") != string(r) {
		return "", apperr.New(apperr.NotFound, "There is no such restriction.")
	}
	return r, nil
}

// keyEnforceConfirm asks before enforcing a report-only restriction,
// with what it would have refused in the last 7 days: a dialog for htmx,
// a page otherwise. Admins only.
func (s *Server) keyEnforceConfirm(c echo.Context) error {
	r, err := restrictionParam(c)
	if err != nil {
		return err
	}
	m := currentMembership(c)
	k, err := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	now := s.now()
	switch {
	case !k.Editable(now):
		return apperr.New(apperr.Conflict, "This key is %s and can no longer be changed.", k.StatusAt(now))
	case !k.ReportOnly().Has(r):
		return apperr.New(apperr.Conflict, "%s of this key is already enforced.", upper(r.Phrase()))
	}
	w, err := s.usageReader.WouldRefuse(c.Request().Context(), m.ID, k.ID, now.AddDate(0, 0, -usage.WouldDays))
	if err != nil {
		return err
	}
	vm := keys.EnforceConfirm{
		Slug: m.Slug, KeyID: k.ID, CSRFToken: csrfToken(c), Description: k.Description, Hint: k.Hint,
		Name: string(r), Label: r.Phrase(),
		Would:   "Enforcing would have refused " + requestsText(w.Restrictions[string(r)]) + " in the last 7 days.",
		Refusal: refusalText(r),
	}
	return dialog(s, c, http.StatusOK, "Enforce "+r.Phrase()+" of "+k.Description, keys.EnforceModal, keys.EnforceScreen, vm)
}

// keyEnforce enforces a restriction of a key. Admins only.
func (s *Server) keyEnforce(c echo.Context) error { return s.keySwitch(c, false) }

// keyReportOnly lets a restriction of a key report only. Admins only.
func (s *Server) keyReportOnly(c echo.Context) error { return s.keySwitch(c, true) }

func (s *Server) keySwitch(c echo.Context, on bool) error {
	r, err := restrictionParam(c)
	if err != nil {
		return err
	}
	m := currentMembership(c)
	k, err := s.keys.SetReportOnly(c.Request().Context(), m.ID, c.Param("id"), r, on, actor(c))
	if err != nil {
		return err
	}
	message := fmt.Sprintf("%s of %s (%s) is enforced: what it does not allow is refused.", upper(r.Phrase()), k.Hint, k.Description)
	if on {
		message = fmt.Sprintf("%s of %s (%s) is report only: what it would refuse is let through and counted.", upper(r.Phrase()), k.Hint, k.Description)
	}
	if !isHTMX(c) {
		s.sessions.addFlash(c, message)
		return redirect(c, keys.KeyURL(m.Slug, k.ID))
	}
	return s.restrictionsChanged(c, k, message)
}

// restrictionsChanged answers an htmx switch as any change of the key
// made from its page: the Restrictions panel, the edit form (whose
// report-only boxes follow the modes) and the quota (which says whether it
// only reports) are swapped out of band.
func (s *Server) restrictionsChanged(c echo.Context, k apikey.Key, message string) error {
	return s.keyChanged(c, k, message)
}

// keyApplySuggestions restricts a key to what its traffic of the last 30
// days used, as report-only restrictions, and returns to its page, where
// the Restrictions panel shows them ready to enforce. Admins only.
func (s *Server) keyApplySuggestions(c echo.Context) error {
	m := currentMembership(c)
	k, err := s.keys.Get(c.Request().Context(), m.ID, c.Param("id"))
	if err != nil {
		return err
	}
	_, sg, _, err := s.suggestionOf(c, k, s.now())
	if err != nil {
		return err
	}
	k, err = s.keys.Restrict(c.Request().Context(), m.ID, k.ID, sg, actor(c))
	if err != nil {
		return err
	}
	s.sessions.addFlash(c, fmt.Sprintf("Restricted %s (%s) to what it used, in report-only mode: enforce each restriction once it would refuse nothing you need.", k.Hint, k.Description))
	return redirect(c, keys.KeyURL(m.Slug, k.ID))
}
