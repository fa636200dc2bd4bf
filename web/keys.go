package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/usage"
	"keyplane/views/keys"
)

// keysList is the organization's home: its keys, filtered by status,
// environment, kind and a description search, each with its requests of the
// last 24 hours and 7 UTC days, read in one query. htmx requests get the
// table alone.
func (s *Server) keysList(c echo.Context) error {
	ctx := c.Request().Context()
	m := currentMembership(c)
	f := keys.Filter{
		Status:      oneOf(c.QueryParam("status"), keys.StatusNames...),
		Environment: oneOf(c.QueryParam("environment"), "live", "test"),
		Kind:        oneOf(c.QueryParam("kind"), "private", "public"),
		Product:     oneOf(c.QueryParam("product"), s.productSlugs()...),
		Q:           truncateRunes(strings.TrimSpace(c.QueryParam("q")), 200),
		Sort:        oneOf(c.QueryParam("sort"), keys.SortLastUsed, keys.SortDescription, keys.SortRequests),
		Dir:         oneOf(c.QueryParam("dir"), "asc", "desc"),
	}
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 1 && n <= 1_000_000 {
		f.Page = n
	}
	// The usage read is the page's slowest; it runs beside the key reads.
	type activityResult struct {
		byKey map[string]usage.KeyActivity
		err   error
	}
	now := s.now()
	activityCh := make(chan activityResult, 1)
	go func() {
		a, err := s.usageReader.Activity(ctx, m.ID, now)
		activityCh <- activityResult{a, err}
	}()
	policy, err := s.orgs.KeyPolicy(ctx, m.ID)
	if err != nil {
		return err
	}
	status := apikey.Status(f.Status)
	if f.Status == keys.StatusIdle {
		status = ""
	}
	list, err := s.keys.List(ctx, m.ID, apikey.Filter{
		Status: status, Environment: apikey.Environment(f.Environment), Kind: apikey.Kind(f.Kind),
		Product: f.Product, Search: f.Q,
	})
	if err != nil {
		return err
	}
	if f.Status == keys.StatusIdle {
		list = slices.DeleteFunc(list, func(k apikey.Key) bool { return !apikey.IsIdle(k, policy.IdleDays, now) })
	}
	expiring, err := s.expiringSoon(c, now)
	if err != nil {
		return err
	}
	products, err := s.productOptions(c)
	if err != nil {
		return err
	}
	anyKeys := len(list) > 0
	if !anyKeys && f.Active() {
		if anyKeys, err = s.keys.HasAny(ctx, m.ID); err != nil {
			return err
		}
	}
	vm := keys.ListPage{
		Slug: m.Slug, OrgName: m.Name, IsAdmin: isOrgAdmin(c), CSRFToken: csrfToken(c), Filter: f, AnyKeys: anyKeys,
		Limit: products[0].Limit, ActiveNow: products[0].ActiveNow, AtLimit: true,
		TableURL: keys.FilteredURL(m.Slug, f), Expiring: expiring,
	}
	for _, p := range products {
		vm.AtLimit = vm.AtLimit && p.AtLimit()
	}
	names := map[string]string{}
	if len(products) > 1 {
		vm.Products = products
		for _, p := range products {
			names[p.Slug] = p.Name
		}
	}
	activity := <-activityCh
	if activity.err != nil {
		return activity.err
	}
	byID := make(map[string]*apikey.Key, len(list))
	for i := range list {
		byID[list[i].ID] = &list[i]
	}
	sortKeys(list, f, activity.byKey)
	shown, pager := pageOf(list, f.Page)
	vm.Pager = pager
	vm.Filter.Page = pager.Page
	quotas, err := s.keys.QuotaStates(ctx, m.ID, shown, now)
	if err != nil {
		return err
	}
	for _, k := range shown {
		r := withActivity(keyRow(k, m.Slug, now), activity.byKey[k.ID])
		r.Idle = idleText(k, policy.IdleDays, now)
		r.Product = names[k.Product]
		if st, ok := quotas[k.ID]; ok {
			r.Quota = quotaMeter("row-quota-"+k.ID, st, k.ReportQuota, now)
		}
		if k.ReplacedByID != nil && k.InGrace(now) {
			successor := byID[*k.ReplacedByID]
			if successor == nil { // filtered out of the page: rare, one read
				if next, err := s.keys.Get(ctx, m.ID, *k.ReplacedByID); err == nil {
					successor = &next
				}
			}
			if inRotation(k, successor, now) {
				r.RotationURL = keys.KeyURL(m.Slug, *k.ReplacedByID)
			}
		}
		vm.Rows = append(vm.Rows, r)
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, keys.Table(vm))
	}
	return render(c, http.StatusOK, keys.ListScreen(s.page(c, "API keys · "+m.Name), vm))
}

// expiringSoon is the expiry banner of the current organization: its
// working keys that stop within 7 days, the soonest first.
func (s *Server) expiringSoon(c echo.Context, now time.Time) ([]keys.ExpiringKey, error) {
	m := currentMembership(c)
	list, err := s.keys.ExpiringSoon(c.Request().Context(), m.ID)
	if err != nil {
		return nil, err
	}
	out := make([]keys.ExpiringKey, 0, len(list))
	for _, k := range list {
		out = append(out, keys.ExpiringKey{
			URL: keys.KeyURL(m.Slug, k.ID), Description: k.Description, Hint: k.Hint,
			Stops: relative(*k.ExpiresAt, now), StopsExact: k.ExpiresAt.UTC().Format(exactLayout),
		})
	}
	return out, nil
}

// idleText says how long key k has gone unused when it is idle under an
// idle period of days, else "".
func idleText(k apikey.Key, days int, now time.Time) string {
	if !apikey.IsIdle(k, days, now) {
		return ""
	}
	n := int(now.Sub(k.IdleSince()) / (24 * time.Hour))
	if k.LastUsedAt == nil {
		return fmt.Sprintf("never used in %d days", n)
	}
	return fmt.Sprintf("unused for %d days", n)
}

// sortKeys orders list as f says, the newest first among equals, so the
// order and therefore the pages are stable.
func sortKeys(list []apikey.Key, f keys.Filter, activity map[string]usage.KeyActivity) {
	desc := f.Descending()
	cmpCreated := func(a, b apikey.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return -c
		}
		return -strings.Compare(a.ID, b.ID)
	}
	slices.SortStableFunc(list, func(a, b apikey.Key) int {
		var c int
		switch f.SortColumn() {
		case keys.SortCreated:
			c = -cmpCreated(a, b)
		case keys.SortDescription:
			c = strings.Compare(strings.ToLower(a.Description), strings.ToLower(b.Description))
		case keys.SortRequests:
			c = cmp.Compare(activity[a.ID].Last24h, activity[b.ID].Last24h)
		case keys.SortLastUsed:
			// Never used sorts as the oldest use.
			var ta, tb time.Time
			if a.LastUsedAt != nil {
				ta = *a.LastUsedAt
			}
			if b.LastUsedAt != nil {
				tb = *b.LastUsedAt
			}
			c = ta.Compare(tb)
		}
		if desc {
			c = -c
		}
		if c == 0 {
			c = cmpCreated(a, b)
		}
		return c
	})
}

// pageOf is page n (1-based; past the end means the last) of list, and
// where it lies.
func pageOf(list []apikey.Key, n int) ([]apikey.Key, keys.Pager) {
	p := keys.Pager{Total: len(list), Pages: max(1, (len(list)+keys.PageSize-1)/keys.PageSize)}
	p.Page = min(max(n, 1), p.Pages)
	from := (p.Page - 1) * keys.PageSize
	to := min(from+keys.PageSize, len(list))
	if len(list) > 0 {
		p.From, p.To = from+1, to
	}
	return list[from:to], p
}

func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// productSlugs lists every product's slug.
func (s *Server) productSlugs() []string {
	list := s.products.List()
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, p.Slug)
	}
	return out
}

// productOptions lists every product, the default first, with the current
// organization's active keys of each against its limit.
func (s *Server) productOptions(c echo.Context) ([]keys.ProductOption, error) {
	active, err := s.keys.ActiveByProduct(c.Request().Context(), currentMembership(c).ID)
	if err != nil {
		return nil, err
	}
	list := s.products.List()
	out := make([]keys.ProductOption, 0, len(list))
	for _, p := range list {
		out = append(out, keys.ProductOption{
			Slug: p.Slug, Name: p.Name, Example: p.Format.Example(),
			ActiveNow: active[p.Slug], Limit: p.MaxKeysPerOrg,
		})
	}
	return out, nil
}

// keyForm returns the form's view model for a key of product slug ("" for
// the default): that product's scopes, kinds and public-key defaults.
func (s *Server) keyForm(c echo.Context, slug string, v keys.FormValues) keys.Form {
	m := currentMembership(c)
	p := s.products.Default()
	if found, err := s.products.Get(slug); err == nil {
		p = found
	}
	f := keys.Form{
		Slug: m.Slug, CSRFToken: csrfToken(c), Action: keys.ListURL(m.Slug), FormToken: randomToken(16),
		Product: p.Slug, PublicKeys: p.PublicKeys, Values: v, DefaultRate: p.PublicRateLimit,
		DefaultBlock: int((p.PublicBlock + time.Minute - 1) / time.Minute), Limit: p.MaxKeysPerOrg,
	}
	// Read again at submit, under the organization's lock: this only
	// shapes what the form offers.
	if days, err := s.keys.MaxLifetime(c.Request().Context(), m.ID); err == nil && days > 0 {
		f.MaxLifetimeDays, f.LifetimeDate = days, apikey.LifetimeDate(s.now(), days)
	}
	if len(s.products.List()) > 1 {
		f.ProductName = p.Name
	}
	for _, sc := range p.Scopes {
		f.Catalogue = append(f.Catalogue, keys.ScopeOption{Name: sc.Name, Description: sc.Description})
	}
	return f
}

// validKey reports whether in would pass the create's checks of its
// settings, so that a warning never hides an error.
func (s *Server) validKey(in apikey.Input) bool {
	rules, err := s.keys.Rules(in.Product)
	if err != nil {
		return false
	}
	_, err = rules.Policy.Validate(in, s.now())
	return err == nil
}

// noScopesWarning says what a key of product slug without scopes cannot
// do: call whatever needs a scope, by the product's route rules or a
// gateway's X-Required-Scope.
func (s *Server) noScopesWarning(slug string) string {
	p := s.products.Default()
	if found, err := s.products.Get(slug); err == nil {
		p = found
	}
	msg := "This key will be able to call nothing that needs a scope: such requests are refused as Missing scope (forbidden)."
	if n := len(p.RouteScopes); n > 0 {
		rules := make([]string, 0, min(n, 3))
		for _, r := range p.RouteScopes[:min(n, 3)] {
			rules = append(rules, r.Method+" "+r.Path+" needs "+r.Scope)
		}
		more := ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
		}
		msg += " Here " + strings.Join(rules, "; ") + more + "."
	}
	return msg
}

// renderKeyForm shows the create form: in the modal for htmx, as a page
// otherwise.
func (s *Server) renderKeyForm(c echo.Context, status int, f keys.Form) error {
	return dialog(s, c, status, "Create an API key", keys.NewModal, keys.NewScreen, f)
}

// keyNew shows the create form of ?product= (the default product when
// there is only one); with several products and none chosen, it asks for
// one first. Admins only.
func (s *Server) keyNew(c echo.Context) error {
	products, err := s.productOptions(c)
	if err != nil {
		return err
	}
	slug := c.QueryParam("product")
	if len(products) == 1 {
		slug = products[0].Slug
	}
	chosen := -1
	for i, p := range products {
		if p.Slug == slug {
			chosen = i
		}
	}
	if chosen < 0 {
		f := s.keyForm(c, "", keys.FormValues{})
		f.Products = products
		if slug != "" {
			f.Errors = map[string]string{"product": "Choose one of these products."}
		}
		return s.renderKeyForm(c, http.StatusOK, f)
	}
	f := s.keyForm(c, slug, keys.FormValues{Kind: string(apikey.Private), Environment: string(apikey.Live)})
	if p := products[chosen]; p.AtLimit() {
		f.AtLimit = true
		f.Error = apperr.MessageOf(apikey.LimitError(p.Limit))
	}
	return s.renderKeyForm(c, http.StatusOK, f)
}

// expiryOf is the expiry date a create form asks for: a preset's date,
// days from now (UTC), none for "never", else the date field as given.
// Without a preset (the edit form) the date field decides.
func expiryOf(preset, date string, now time.Time) string {
	if days, err := strconv.Atoi(preset); err == nil && days >= 1 && days <= 3650 {
		// 30, 90, 365, or the organization's maximum lifetime.
		return now.UTC().AddDate(0, 0, days).Format(time.DateOnly)
	}
	if preset == keys.ExpiresNever {
		return ""
	}
	return date
}

func (s *Server) keyInput(c echo.Context) apikey.Input {
	in := keyInput(c)
	in.ExpiresAt = expiryOf(c.FormValue("expires_in"), in.ExpiresAt, s.now())
	return in
}

func keyInput(c echo.Context) apikey.Input {
	form := c.Request().PostForm
	return apikey.Input{
		Product: c.FormValue("product"), Description: c.FormValue("description"), Kind: c.FormValue("kind"), Environment: c.FormValue("environment"),
		Scopes: form["scopes"], Domains: c.FormValue("domains"), IPs: c.FormValue("ips"),
		ExpiresAt: c.FormValue("expires_at"), RateLimit: c.FormValue("rate_limit_per_minute"),
		BlockMinutes: c.FormValue("block_minutes"), Quota: quotaInput(c), ReportOnly: form["report_only"],
	}
}

func inputValues(in apikey.Input) keys.FormValues {
	preset := keys.ExpiresNever
	if in.ExpiresAt != "" {
		preset = keys.ExpiresCustom
	}
	return keys.FormValues{ExpiresIn: preset,
		Description: in.Description, Kind: in.Kind, Environment: in.Environment, Scopes: in.Scopes,
		Domains: in.Domains, IPs: in.IPs, ExpiresAt: in.ExpiresAt, RateLimit: in.RateLimit, BlockMinutes: in.BlockMinutes,
		ReportOnly: in.ReportOnly, Quota: quotaFormValues(in.Quota),
	}
}

// keyCreate creates a key and reveals it once. Bad input, the limit and a
// re-posted form answer with the form and a message; nothing is created.
func (s *Server) keyCreate(c echo.Context) error {
	m := currentMembership(c)
	in := s.keyInput(c)
	if len(in.Scopes) == 0 && c.FormValue("no_scopes") != "ok" && s.validKey(in) {
		f := s.keyForm(c, in.Product, inputValues(in))
		f.NoScopesWarning = s.noScopesWarning(in.Product)
		return s.renderKeyForm(c, http.StatusOK, f)
	}
	created, err := s.keys.Create(c.Request().Context(), m.ID, c.FormValue("form_token"), in, actor(c))
	if err != nil {
		f := s.keyForm(c, in.Product, inputValues(in))
		switch {
		case apperr.Is(err, apperr.Invalid):
			f.Errors = apperr.FieldsOf(err)
			f.Error = apperr.MessageOf(err)
			return s.renderKeyForm(c, statusOf(apperr.CodeOf(err)), f)
		case apperr.Is(err, apperr.Limit):
			f.AtLimit = true
			f.Error = apperr.MessageOf(err)
			return s.renderKeyForm(c, statusOf(apperr.CodeOf(err)), f)
		case apikey.IsAlreadyCreated(err), errors.Is(err, apikey.ErrOrgDisabled):
			f.Error = apperr.MessageOf(err)
			return s.renderKeyForm(c, statusOf(apperr.CodeOf(err)), f)
		}
		return err
	}
	var oob []templ.Component
	if isHTMX(c) {
		h, err := s.listHeader(c)
		if err != nil {
			return err
		}
		oob = append(oob, keys.ListHeaderView(h, true))
	}
	return s.reveal(c, created.Key.Product, keys.Reveal{
		Slug: m.Slug, Secret: created.Secret, Hint: created.Key.Hint, Description: created.Key.Description,
		KeyURL: keys.KeyURL(m.Slug, created.Key.ID),
	}, oob...)
}

// apiURLOf is the API base URL the reveal's curl examples call for a key
// of product slug: the product's own (the default product's comes from
// KEYPLANE_API_URL), else a placeholder the reveal marks as such.
func (s *Server) apiURLOf(slug string) (url string, placeholder bool) {
	if p, err := s.products.Get(slug); err == nil && p.APIURL != "" {
		return strings.TrimRight(p.APIURL, "/"), false
	}
	return keys.PlaceholderAPIURL, true
}

// reveal answers with the one response that ever holds a key's plaintext:
// never cached, kept out of htmx's history, and the keys table told to
// reload behind the dialog.
// oob are out-of-band swaps for htmx: what else on the page the new key
// changed.
func (s *Server) reveal(c echo.Context, product string, r keys.Reveal, oob ...templ.Component) error {
	noStore(c)
	r.APIURL, r.APIURLPlaceholder = s.apiURLOf(product)
	if isHTMX(c) {
		c.Response().Header().Set("HX-Trigger", keys.ChangedEvt)
		return render(c, http.StatusOK, templ.Join(append([]templ.Component{keys.RevealModal(r)}, oob...)...))
	}
	return render(c, http.StatusOK, keys.RevealScreen(s.page(c, "Your new API key"), r))
}

// listHeader is the keys list's header for the current organization, with
// its counts read now: what a create, revoke or disable swaps out of band.
func (s *Server) listHeader(c echo.Context) (keys.ListHeader, error) {
	products, err := s.productOptions(c)
	if err != nil {
		return keys.ListHeader{}, err
	}
	m := currentMembership(c)
	h := keys.ListHeader{Slug: m.Slug, IsAdmin: isOrgAdmin(c), Limit: products[0].Limit, ActiveNow: products[0].ActiveNow, AtLimit: true}
	for _, p := range products {
		h.AtLimit = h.AtLimit && p.AtLimit()
	}
	if len(products) > 1 {
		h.Products = products
	}
	return h, nil
}
