package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func policyForm(maxDays, idleDays string, disable bool) url.Values {
	v := url.Values{"max_key_lifetime_days": {maxDays}, "idle_days": {idleDays}}
	if disable {
		v.Set("idle_disable", "true")
	}
	return v
}

// TestKeyPolicySettings: admins set the key policies on the settings page;
// bad values are 422 with a message per field and change nothing; a saved
// maximum lifetime changes no key and lists the active keys beyond it, each
// with a link; members get 403 and other organizations 404; changes are
// audited.
func TestKeyPolicySettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		ctx := context.Background()
		forever := k.newKey(k.acme.ID, apikey.Input{Description: "Forever"})
		long := k.newKey(k.acme.ID, apikey.Input{Description: "Long", ExpiresIn: 200 * 24 * time.Hour})
		k.newKey(k.acme.ID, apikey.Input{Description: "Short", ExpiresIn: 10 * 24 * time.Hour})
		revoked := k.newKey(k.acme.ID, apikey.Input{Description: "Gone"})
		if _, err := k.keys.Revoke(ctx, k.acme.ID, revoked.ID, audit.Actor{UserID: k.alice.ID}); err != nil {
			t.Fatal(err)
		}

		page := k.admin.get("/orgs/acme/settings")
		wantStatus(t, page, http.StatusOK)
		if v := page.doc.Find("#field-idle_days").AttrOr("value", "?"); v != "90" {
			t.Errorf("a new organization's idle period shows %q, want 90", v)
		}
		if v := page.doc.Find("#field-max_key_lifetime_days").AttrOr("value", "?"); v != "" {
			t.Errorf("a new organization's maximum lifetime shows %q, want none", v)
		}
		if page.testid("beyond-lifetime").Length() != 0 {
			t.Error("keys listed beyond a maximum lifetime that is not set")
		}

		msg := "Enter a whole number of days from 1 to 3650, or leave it empty to turn it off."
		for _, tc := range []struct {
			form   url.Values
			fields map[string]string
		}{
			{policyForm("0", "90", false), map[string]string{"max_key_lifetime_days": msg}},
			{policyForm("-3", "90", false), map[string]string{"max_key_lifetime_days": msg}},
			{policyForm("100000", "90", false), map[string]string{"max_key_lifetime_days": msg}},
			{policyForm("thirty", "ninety", false), map[string]string{"max_key_lifetime_days": msg, "idle_days": msg}},
			{policyForm("30", "0", false), map[string]string{"idle_days": msg}},
			{policyForm("30", "", true), map[string]string{"idle_disable": "Set an idle period to disable keys when they become idle."}},
			{url.Values{"idle_days": {"90"}, "idle_disable": {"yes"}}, map[string]string{"idle_disable": "Tick the box or leave it empty."}},
		} {
			r := k.admin.post("/orgs/acme/settings/keys", tc.form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			for name, want := range tc.fields {
				if got := r.text("error-" + name); got != want {
					t.Errorf("%v: %s says %q, want %q", tc.form, name, got, want)
				}
			}
			if got := r.doc.Find("#field-max_key_lifetime_days").AttrOr("value", "?"); got != tc.form.Get("max_key_lifetime_days") {
				t.Errorf("%v: the form lost what was typed: %q", tc.form, got)
			}
		}
		if p, err := k.orgs.KeyPolicy(ctx, k.acme.ID); err != nil || p != (org.KeyPolicy{IdleDays: 90}) {
			t.Errorf("refused forms changed the policy: %+v, %v", p, err)
		}

		// Members may not; other organizations' admins see nothing.
		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, org.Member)
		member := k.client()
		member.mustLogin("bob@example.com")
		wantStatus(t, member.post("/orgs/acme/settings/keys", policyForm("30", "14", true)), http.StatusForbidden)
		wantStatus(t, member.get("/orgs/acme/settings"), http.StatusForbidden)
		eve := k.user("eve@example.com", "Eve", false)
		k.org("Evil", "evil", eve.ID)
		stranger := k.client()
		stranger.mustLogin("eve@example.com")
		want404(t, stranger.post("/orgs/acme/settings/keys", policyForm("30", "14", true)))
		if p, _ := k.orgs.KeyPolicy(ctx, k.acme.ID); p != (org.KeyPolicy{IdleDays: 90}) {
			t.Errorf("a member or a stranger changed the policy: %+v", p)
		}

		wantRedirect(t, k.admin.post("/orgs/acme/settings/keys", policyForm(" 30 ", "14", true)), "/orgs/acme/settings#key-policies")
		if p, err := k.orgs.KeyPolicy(ctx, k.acme.ID); err != nil || p != (org.KeyPolicy{MaxLifetimeDays: 30, IdleDays: 14, IdleDisable: true}) {
			t.Errorf("saved policy %+v, %v", p, err)
		}
		page = k.admin.get("/orgs/acme/settings")
		if !strings.Contains(page.body, "2 active keys outlive the new maximum lifetime") {
			t.Error("the flash does not say that keys outlive the new maximum lifetime")
		}
		var listed []string
		page.testid("beyond-key").Each(func(_ int, s *goquery.Selection) {
			listed = append(listed, s.Find("a").AttrOr("href", "")+" "+strings.Join(strings.Fields(s.Text()), " "))
		})
		wantListed := []string{
			"/orgs/acme/keys/" + long.ID + " Long " + long.Hint + " · expires on " + apikey.ExpiryDate(*long.ExpiresAt),
			"/orgs/acme/keys/" + forever.ID + " Forever " + forever.Hint + " · never expires",
		}
		if !slices.Equal(listed, wantListed) {
			t.Errorf("keys beyond the lifetime: %q, want %q", listed, wantListed)
		}
		if got := page.doc.Find("#field-idle_disable").AttrOr("checked", "no"); got == "no" {
			t.Error("the disable option is not shown ticked")
		}
		// Nothing about the keys changed.
		for _, key := range []apikey.Key{forever, long} {
			if got := k.reload(key.ID); got.DisabledAt != nil || !sameExpiry(got.ExpiresAt, key.ExpiresAt) {
				t.Errorf("%s changed: %+v", key.Description, got)
			}
		}
		var summaries []string
		db.Table("audit_events").Where("org_id = ? AND action = ?", k.acme.ID, audit.OrgSettingsChanged).Pluck("summary", &summaries)
		if want := "alice@example.com set the key policies of Acme: keys must expire within 30 days; keys unused for 14 days are flagged idle and disabled"; !slices.Equal(summaries, []string{want}) {
			t.Errorf("audit: %q", summaries)
		}

		// An empty form turns every policy off.
		wantRedirect(t, k.admin.post("/orgs/acme/settings/keys", url.Values{}), "/orgs/acme/settings#key-policies")
		if p, _ := k.orgs.KeyPolicy(ctx, k.acme.ID); p != (org.KeyPolicy{}) {
			t.Errorf("after an empty form: %+v", p)
		}
	})
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// TestLifetimeInForms: under a maximum lifetime the create form offers
// only expiries within it, the maximum chosen, and refuses more with the
// limit named; the edit form proposes the last allowed day and refuses to
// save a key beyond it.
func TestLifetimeInForms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		forever := k.newKey(k.acme.ID, apikey.Input{Description: "Forever"})
		if _, err := k.orgs.SetKeyPolicy(context.Background(), k.acme.ID, org.KeyPolicy{MaxLifetimeDays: 45, IdleDays: 90}, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		last := apikey.LifetimeDate(k.clock.Now(), 45)

		form := k.admin.get("/orgs/acme/keys/new")
		wantStatus(t, form, http.StatusOK)
		var presets []string
		form.doc.Find(`input[name="expires_in"]`).Each(func(_ int, s *goquery.Selection) {
			p := s.AttrOr("value", "")
			if _, ok := s.Attr("checked"); ok {
				p += "*"
			}
			presets = append(presets, p)
		})
		if want := []string{"30", "45*", "custom"}; !slices.Equal(presets, want) {
			t.Errorf("presets %v, want %v", presets, want)
		}
		if hint := form.text("lifetime-hint"); !strings.Contains(hint, "within 45 days") || !strings.Contains(hint, last) {
			t.Errorf("lifetime hint %q", hint)
		}

		limitMsg := "This organization's keys must expire within 45 days (its maximum key lifetime): choose a date on or before " + last + "."
		for _, tc := range []url.Values{
			{"expires_in": {"never"}},
			{"expires_in": {"custom"}, "expires_at": {k.clock.Now().AddDate(0, 0, 47).Format(time.DateOnly)}},
			{"expires_in": {"90"}},
		} {
			f := keyForm("Too long")
			for name, v := range tc {
				f[name] = v
			}
			r := k.admin.post("/orgs/acme/keys", f)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := r.text("error-expires_at"); got != limitMsg {
				t.Errorf("%v: %q, want %q", tc, got, limitMsg)
			}
		}
		f := keyForm("Within")
		f.Set("expires_in", "45")
		_, created := k.createKey(k.admin, f)
		if created.ExpiresAt == nil || apikey.ExpiryDate(*created.ExpiresAt) != k.clock.Now().AddDate(0, 0, 45).Format(time.DateOnly) {
			t.Errorf("the maximum preset made expiry %v", created.ExpiresAt)
		}

		// The edit form proposes the last day allowed for a key without
		// expiry, and refuses to keep it without one.
		page := k.admin.get("/orgs/acme/keys/" + forever.ID)
		if v := page.doc.Find("#field-expires_at").AttrOr("value", ""); v != last {
			t.Errorf("the edit form proposes %q, want %q", v, last)
		}
		r := k.admin.post("/orgs/acme/keys/"+forever.ID, url.Values{"description": {"Forever"}, "expires_at": {""}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := r.text("error-expires_at"); got != limitMsg {
			t.Errorf("edit without expiry: %q", got)
		}
		wantRedirect(t, k.admin.post("/orgs/acme/keys/"+forever.ID, url.Values{"description": {"Forever"}, "expires_at": {last}}), "/orgs/acme/keys/"+forever.ID)
	})
}

// TestIdleAndExpiryOnKeysPage: keys unused for the idle period carry an
// idle badge on their row and page and are what status=idle lists; the
// keys page shows every member a banner of the keys that stop within 7
// days, with links.
func TestIdleAndExpiryOnKeysPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		ctx := context.Background()
		if _, err := k.orgs.SetKeyPolicy(ctx, k.acme.ID, org.KeyPolicy{IdleDays: 30}, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		never := k.newKey(k.acme.ID, apikey.Input{Description: "Never used"})
		used := k.newKey(k.acme.ID, apikey.Input{Description: "Used lately"})
		paused := k.newKey(k.acme.ID, apikey.Input{Description: "Paused"})
		if _, err := k.keys.Disable(ctx, k.acme.ID, paused.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		k.clock.Advance(31 * 24 * time.Hour)
		k.admin = k.client() // the session from a month ago has expired
		k.admin.mustLogin("alice@example.com")
		if err := db.Model(&apikey.Key{}).Where("id = ?", used.ID).Update("last_used_at", k.clock.Now().Add(-time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		soon := k.newKey(k.acme.ID, apikey.Input{Description: "Stops soon", ExpiresIn: 3 * 24 * time.Hour})
		sooner := k.newKey(k.acme.ID, apikey.Input{Description: "Stops sooner", ExpiresIn: 5 * time.Hour})
		k.newKey(k.acme.ID, apikey.Input{Description: "Stops later", ExpiresIn: 20 * 24 * time.Hour})

		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, org.Member)
		member := k.client()
		member.mustLogin("bob@example.com")
		for _, c := range []*client{k.admin, member} {
			list := c.get("/orgs/acme/keys")
			wantStatus(t, list, http.StatusOK)
			var banner []string
			list.testid("expiring-key").Each(func(_ int, s *goquery.Selection) {
				banner = append(banner, s.Find("a").AttrOr("href", "")+" "+s.Find("a").Text())
			})
			want := []string{"/orgs/acme/keys/" + sooner.ID + " Stops sooner", "/orgs/acme/keys/" + soon.ID + " Stops soon"}
			if !slices.Equal(banner, want) {
				t.Errorf("banner %v, want %v", banner, want)
			}
			if h := list.testid("expiry-banner").Find("h2").Text(); !strings.Contains(h, "2 keys stop working within 7 days") {
				t.Errorf("banner title %q", h)
			}
			var idle []string
			list.testid("key-row").Each(func(_ int, s *goquery.Selection) {
				if s.Find(`[data-testid="key-idle"]`).Length() > 0 {
					idle = append(idle, s.AttrOr("data-key-id", "")+" "+strings.TrimSpace(s.Find(`[data-testid="key-idle-text"]`).Text()))
				}
			})
			if want := []string{never.ID + " never used in 31 days"}; !slices.Equal(idle, want) {
				t.Errorf("idle rows %v, want %v", idle, want)
			}
		}

		filtered := k.admin.get("/orgs/acme/keys?status=idle")
		var ids []string
		filtered.testid("key-row").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-key-id", "")) })
		if !slices.Equal(ids, []string{never.ID}) {
			t.Errorf("status=idle lists %v, want only the key never used", ids)
		}
		if opt := filtered.doc.Find(`#filter-status option[value="idle"]`); opt.Length() != 1 || opt.AttrOr("selected", "no") == "no" {
			t.Error("the status filter does not offer idle, chosen")
		}
		page := member.get("/orgs/acme/keys/" + never.ID)
		if page.testid("key-idle").Length() != 1 || page.text("key-idle-text") != "never used in 31 days" {
			t.Errorf("the key page has no idle badge: %q", page.text("key-idle-text"))
		}
		if page := member.get("/orgs/acme/keys/" + used.ID); page.testid("key-idle").Length() != 0 {
			t.Error("a key used an hour ago is flagged idle")
		}

		// Without an idle period nothing is idle, and no banner without
		// keys that stop soon.
		if _, err := k.orgs.SetKeyPolicy(ctx, k.acme.ID, org.KeyPolicy{}, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		k.clock.Advance(6 * time.Hour)
		if _, err := k.keys.Revoke(ctx, k.acme.ID, soon.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		list := k.admin.get("/orgs/acme/keys")
		if list.testid("key-idle").Length() != 0 || list.testid("expiry-banner").Length() != 0 {
			t.Errorf("idle badges %d, banner %d; want none", list.testid("key-idle").Length(), list.testid("expiry-banner").Length())
		}
	})
}

// TestAPIPolicies: the org API reads and changes the key policies, refuses
// out-of-range days with a message per field, lists the keys a maximum
// lifetime contradicts, and refuses keys beyond it on create and update.
func TestAPIPolicies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		manage := a.creds[credManage]
		r := a.call("GET", "/v1/policies", "/api/v1/policies", manage, "")
		if r.status != 200 || r.body["max_key_lifetime_days"] != nil || r.body["idle_days"] != 90.0 || r.body["idle_disable"] != false {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		if list, ok := r.body["keys_beyond_max_lifetime"].([]any); !ok || len(list) != 0 {
			t.Errorf("keys beyond no limit: %s", r.raw)
		}
		// The leak policy: notify by default, set alone, anything else 422.
		if r.body["leak_policy"] != "notify" {
			t.Errorf("leak policy: %s", r.raw)
		}
		if r := a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"leak_policy": "sometimes"}`); r.status != 422 {
			t.Errorf("an unknown leak policy: %d %s", r.status, r.raw)
		}
		if r := a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"leak_policy": "disable"}`); r.status != 200 || r.body["leak_policy"] != "disable" || r.body["idle_days"] != 90.0 {
			t.Errorf("set the leak policy: %d %s", r.status, r.raw)
		}
		if got, _ := a.orgs.LeakPolicyOf(context.Background(), a.acme.ID); got != "disable" {
			t.Errorf("stored leak policy %q", got)
		}
		a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"leak_policy": "notify"}`)
		for _, body := range []string{
			`{"max_key_lifetime_days": 0}`, `{"max_key_lifetime_days": -1}`, `{"max_key_lifetime_days": 100000}`,
			`{"idle_days": 0}`, `{"idle_days": 3651}`,
		} {
			r := a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, body)
			var name string
			for n := range map[string]bool{"max_key_lifetime_days": true, "idle_days": true} {
				if strings.Contains(body, n) {
					name = n
				}
			}
			if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{name}) || !strings.Contains(string(r.raw), "from 1 to 3650") {
				t.Errorf("%s: %d %s", body, r.status, r.raw)
			}
		}
		r = a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"max_key_lifetime_days": "thirty"}`)
		if r.status != 422 || r.code() != "invalid" {
			t.Errorf("a string of days: %d %s", r.status, r.raw)
		}
		r = a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"idle_days": null, "idle_disable": true}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"idle_disable"}) {
			t.Errorf("disable without an idle period: %d %s", r.status, r.raw)
		}
		if p, _ := a.orgs.KeyPolicy(context.Background(), a.acme.ID); p != (org.KeyPolicy{IdleDays: 90}) {
			t.Fatalf("refused changes changed the policy: %+v", p)
		}

		r = a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"max_key_lifetime_days": 60}`)
		if r.status != 200 || r.body["max_key_lifetime_days"] != 60.0 || r.body["idle_days"] != 90.0 {
			t.Fatalf("set the maximum lifetime: %d %s", r.status, r.raw)
		}
		// Every key of acme was made without expiry: all are listed, none
		// changed (the credential itself keeps working).
		var listed []string
		for _, k := range r.body["keys_beyond_max_lifetime"].([]any) {
			listed = append(listed, k.(map[string]any)["id"].(string))
		}
		if !slices.Contains(listed, a.ids[credManage]) || slices.Contains(listed, a.ids[credRevoked]) {
			t.Errorf("keys beyond: %v", listed)
		}
		if r := a.call("GET", "/v1/keys", "/api/v1/keys", manage, ""); r.status != 200 {
			t.Errorf("the credential beyond the new limit stopped working: %d", r.status)
		}

		r = a.call("POST", "/v1/keys", "/api/v1/keys", manage, `{"description": "Forever"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"expires_at"}) || !strings.Contains(string(r.raw), "within 60 days") {
			t.Errorf("create without expiry: %d %s", r.status, r.raw)
		}
		at := a.clock.Now().Add(61 * 24 * time.Hour).UTC().Format(time.RFC3339)
		r = a.call("POST", "/v1/keys", "/api/v1/keys", manage, `{"description": "Too long", "expires_at": "`+at+`"}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"expires_at"}) {
			t.Errorf("create past the limit: %d %s", r.status, r.raw)
		}
		at = a.clock.Now().Add(59 * 24 * time.Hour).UTC().Format(time.RFC3339)
		r = a.call("POST", "/v1/keys", "/api/v1/keys", manage, `{"description": "Within", "expires_at": "`+at+`"}`)
		if r.status != 201 {
			t.Fatalf("create within the limit: %d %s", r.status, r.raw)
		}
		id := r.body["id"].(string)
		r = a.call("PATCH", "/v1/keys/{id}", "/api/v1/keys/"+id, manage, `{"expires_at": null}`)
		if r.status != 422 || !slices.Equal(r.fields(), []string{"expires_at"}) {
			t.Errorf("update to no expiry: %d %s", r.status, r.raw)
		}

		r = a.call("PATCH", "/v1/policies", "/api/v1/policies", manage, `{"max_key_lifetime_days": null, "idle_days": 7, "idle_disable": true}`)
		if r.status != 200 || r.body["max_key_lifetime_days"] != nil || r.body["idle_days"] != 7.0 || r.body["idle_disable"] != true {
			t.Errorf("turn the limit off: %d %s", r.status, r.raw)
		}
		var audits []audit.Event
		all, _ := audit.List(context.Background(), db.DB, a.acme.ID, 100)
		for _, e := range all {
			if e.Action == audit.OrgSettingsChanged {
				audits = append(audits, e)
			}
		}
		if len(audits) != 4 { // the two leak policy changes above, and two key policy ones
			b, _ := json.Marshal(audits)
			t.Errorf("audit: %s", b)
		}
	})
}
