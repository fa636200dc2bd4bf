package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// keysEnv is a server with the organization acme, whose admin alice is
// signed in.
type keysEnv struct {
	*env
	alice account.User
	acme  org.Organization
	admin *client
}

func newKeysEnv(t *testing.T, db *store.DB, vars map[string]string, tweaks ...func(*Deps)) *keysEnv {
	t.Helper()
	e := newEnv(t, db, vars, tweaks...)
	alice := e.user("alice@example.com", "Alice", false)
	k := &keysEnv{env: e, alice: alice, acme: e.org("Acme", "acme", alice.ID)}
	k.admin = e.client()
	k.admin.mustLogin("alice@example.com")
	return k
}

// keyForm is a valid create form for a private live key, with a fresh
// single-use token, its lack of scopes confirmed.
func keyForm(description string) url.Values {
	return url.Values{
		"description": {description}, "kind": {"private"}, "environment": {"live"},
		"form_token": {randomToken(16)}, "no_scopes": {"ok"},
	}
}

// revealed returns the key a reveal response shows, failing unless it is a
// well-formed key of the default prefix.
func revealed(t *testing.T, r *resp) string {
	t.Helper()
	in := r.testid("revealed-key")
	if in.Length() != 1 {
		t.Fatalf("%s %s: no revealed key (status %d): %.400s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body)
	}
	secret := in.AttrOr("value", "")
	if _, err := apikey.Parse(secret, "kp"); err != nil {
		t.Fatalf("revealed key %q does not parse: %v", secret, err)
	}
	return secret
}

// createKey posts form to acme's keys as c and returns the revealed key and
// the stored key it belongs to.
func (k *keysEnv) createKey(c *client, form url.Values) (string, apikey.Key) {
	k.t.Helper()
	r := c.post("/orgs/acme/keys", form)
	wantStatus(k.t, r, http.StatusOK)
	secret := revealed(k.t, r)
	return secret, k.keyBySecret(secret)
}

// newKey creates a key of orgID through the service, as alice.
func (k *keysEnv) newKey(orgID string, in apikey.Input) apikey.Key {
	k.t.Helper()
	return k.newKeyWithSecret(orgID, in).Key
}

// newKeyWithSecret is newKey with the key itself.
func (k *keysEnv) newKeyWithSecret(orgID string, in apikey.Input) apikey.Created {
	k.t.Helper()
	if in.Kind == "" {
		in.Kind = "private"
	}
	if in.Environment == "" {
		in.Environment = "live"
	}
	c, err := k.keys.Create(k.t.Context(), orgID, "", in, audit.Actor{UserID: k.alice.ID, Email: k.alice.Email})
	if err != nil {
		k.t.Fatalf("create key %q: %v", in.Description, err)
	}
	return c
}

func (e *env) keyBySecret(secret string) apikey.Key {
	e.t.Helper()
	var key apikey.Key
	if err := e.db.Where("key_hash = ?", apikey.Hash(secret)).Take(&key).Error; err != nil {
		e.t.Fatalf("no stored key for the revealed secret: %v", err)
	}
	return key
}

// reload reads key id from the database.
func (e *env) reload(id string) apikey.Key {
	e.t.Helper()
	var key apikey.Key
	if err := e.db.Where("id = ?", id).Take(&key).Error; err != nil {
		e.t.Fatalf("reload key %s: %v", id, err)
	}
	return key
}

// tableText returns every value of every row of table as text, bytes
// included, for searching.
func (e *env) tableText(table string) string {
	e.t.Helper()
	rows, err := e.db.Table(table).Rows()
	if err != nil {
		e.t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatalf("scan %s: %v", table, err)
		}
		for _, v := range vals {
			if raw, ok := v.([]byte); ok {
				b.Write(raw)
			} else {
				fmt.Fprint(&b, v)
			}
			b.WriteByte('\t')
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}

// rowIDs returns the key ids of the list's rows, in order.
func rowIDs(r *resp) []string {
	var ids []string
	r.testid("key-row").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-key-id", "")) })
	return ids
}

// isFragment reports whether r is a fragment rather than a whole page.
func isFragment(r *resp) bool {
	return !strings.Contains(strings.ToLower(r.body), "<html") && !strings.Contains(strings.ToLower(r.body), "<body")
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestKeyCreateRevealsOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := &syncBuffer{}
		k := newKeysEnv(t, db, nil, func(d *Deps) {
			d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		c := k.admin
		form := keyForm("Checkout widget")
		form.Set("kind", "public")
		form.Set("environment", "test")
		form["scopes"] = []string{"read", "write"}
		form.Set("domains", "shop.example.com\n*.example.org")
		form.Set("ips", "10.0.0.0/8\n2001:db8::/32")

		r := c.post("/orgs/acme/keys", form)
		wantStatus(t, r, http.StatusOK)
		secret := revealed(t, r)
		p, _ := apikey.Parse(secret, "kp")
		if p.Kind != apikey.Public || p.Environment != apikey.Test || !strings.HasPrefix(secret, "kp_pk_test_") {
			t.Fatalf("revealed key %q is not a public test key", secret)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("reveal Cache-Control %q, want no-store", got)
		}
		if !strings.Contains(r.body, "will not be shown again") {
			t.Fatal("the reveal does not say the key will not be shown again")
		}
		if isFragment(r) {
			t.Fatal("a plain POST got a fragment, not a page")
		}
		key := k.keyBySecret(secret)
		if key.Description != "Checkout widget" || key.Kind != apikey.Public || key.Environment != apikey.Test ||
			strings.Join(key.Scopes, " ") != "read write" || strings.Join(key.Domains, " ") != "shop.example.com *.example.org" ||
			strings.Join(key.IPs, " ") != "10.0.0.0/8 2001:db8::/32" || key.OrgID != k.acme.ID {
			t.Fatalf("stored key %+v does not hold the form's settings", key)
		}
		if !strings.Contains(r.body, key.Hint) || r.doc.Find(`a[href="/orgs/acme/keys/`+key.ID+`"]`).Length() == 0 {
			t.Fatal("the reveal neither names the key's hint nor links to its page")
		}

		// The secret never appears again: not in pages, not in the database,
		// not in the log. Its 36 characters after the prefix are searched, so a
		// partial leak fails too.
		body := secret[len("kp_pk_test_"):]
		for _, path := range []string{
			"/orgs/acme/keys", "/orgs/acme/keys?q=checkout", "/orgs/acme/keys/" + key.ID, "/orgs/acme/keys/new",
			"/orgs/acme/keys/" + key.ID + "/revoke", "/orgs/acme/keys/" + key.ID + "/rotate", "/orgs/acme",
		} {
			for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
				r := c.get(path, hdr...)
				if r.StatusCode >= 400 {
					t.Fatalf("GET %s %v: status %d", path, hdr, r.StatusCode)
				}
				if strings.Contains(r.body, body) {
					t.Fatalf("GET %s %v shows the secret again", path, hdr)
				}
			}
		}
		for _, table := range []string{"audit_events", "sessions", "api_keys"} {
			if strings.Contains(k.tableText(table), body) {
				t.Fatalf("the %s table holds the secret", table)
			}
		}
		if k.tableText("sessions") == "" {
			t.Fatal("no session rows to search: the check above proves nothing")
		}
		if !strings.Contains(logs.String(), "/orgs/acme/keys") {
			t.Fatal("no request log lines to search")
		}
		if strings.Contains(logs.String(), body) {
			t.Fatal("the log holds the secret")
		}

		// htmx: the dialog fragment, out of htmx's history, and the table told
		// to reload.
		form = keyForm("Billing backend")
		r = c.post("/orgs/acme/keys", form, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		second := revealed(t, r)
		if second == secret {
			t.Fatal("two creates revealed the same key")
		}
		if !isFragment(r) || r.testid("reveal-modal").Length() != 1 {
			t.Fatalf("htmx create is not the reveal dialog alone: %.400s", r.body)
		}
		if r.doc.Find(`[hx-history="false"]`).Length() == 0 {
			t.Fatal("the reveal dialog is not kept out of htmx's history")
		}
		if got := r.Header.Get("HX-Trigger"); got != "keys-changed" {
			t.Fatalf("HX-Trigger %q, want keys-changed", got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("htmx reveal Cache-Control %q, want no-store", got)
		}
		if !strings.Contains(r.body, "will not be shown again") {
			t.Fatal("the reveal dialog does not say the key will not be shown again")
		}
		if n := k.count("api_keys"); n != 2 {
			t.Fatalf("%d keys, want 2", n)
		}
	})
}

func TestKeyCreateRepostCreatesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		form := keyForm("Production backend")
		secret, _ := k.createKey(k.admin, form)

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := k.admin.post("/orgs/acme/keys", form, hdr...)
			wantStatus(t, r, http.StatusConflict)
			if !strings.Contains(r.text("form-error"), "already created") {
				t.Fatalf("re-post %v: form error %q, want one saying the key was already created", hdr, r.text("form-error"))
			}
			if r.testid("key-form").Length() != 1 || r.testid("revealed-key").Length() != 0 {
				t.Fatalf("re-post %v: want the form and no reveal: %.400s", hdr, r.body)
			}
			if strings.Contains(r.body, secret) {
				t.Fatal("a re-post shows the key again")
			}
		}
		if n := k.count("api_keys"); n != 1 {
			t.Fatalf("%d keys after re-posts, want 1", n)
		}
	})
}

func TestKeysList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		billing := k.newKey(k.acme.ID, apikey.Input{Description: "Billing backend"})
		widget := k.newKey(k.acme.ID, apikey.Input{Description: "Checkout widget", Kind: "public", Environment: "test", Domains: "shop.example.com"})
		reports := k.newKey(k.acme.ID, apikey.Input{Description: "Reports job", Environment: "test"})
		if _, err := k.keys.Revoke(t.Context(), k.acme.ID, reports.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		c := k.admin

		r := c.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if got := rowIDs(r); strings.Join(got, ",") != strings.Join([]string{reports.ID, widget.ID, billing.ID}, ",") {
			t.Fatalf("rows %v, want the three keys newest first", got)
		}
		r.testid("key-last-used").Each(func(i int, s *goquery.Selection) {
			if got := strings.TrimSpace(s.Text()); got != "Never used" {
				t.Errorf("row %d: last used %q, want Never used", i, got)
			}
		})

		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"status=revoked", []string{reports.ID}},
			{"status=active", []string{widget.ID, billing.ID}},
			{"environment=test", []string{reports.ID, widget.ID}},
			{"environment=live", []string{billing.ID}},
			{"kind=public", []string{widget.ID}},
			{"kind=private&environment=test", []string{reports.ID}},
			{"q=BILLING", []string{billing.ID}},
			{"q=+widget+", []string{widget.ID}},
			// Unknown values are ignored.
			{"status=bogus&kind=secret&environment=prod", []string{reports.ID, widget.ID, billing.ID}},
		} {
			r := c.get("/orgs/acme/keys?" + tc.query)
			wantStatus(t, r, http.StatusOK)
			if got := rowIDs(r); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("?%s: rows %v, want %v", tc.query, got, tc.want)
			}
			// Bookmarkable: a plain GET is the whole page, filters shown as set.
			if isFragment(r) || r.doc.Find("#keys-filters").Length() != 1 {
				t.Errorf("?%s: not a whole page with the filter form", tc.query)
			}
		}
		r = c.get("/orgs/acme/keys?status=revoked&environment=test&q=reports")
		if got := r.doc.Find(`#filter-status option[selected]`).AttrOr("value", ""); got != "revoked" {
			t.Errorf("status filter shows %q, want revoked", got)
		}
		if got := r.doc.Find(`#filter-environment option[selected]`).AttrOr("value", ""); got != "test" {
			t.Errorf("environment filter shows %q, want test", got)
		}
		if got := r.testid("filter-q").AttrOr("value", ""); got != "reports" {
			t.Errorf("search box shows %q, want reports", got)
		}
		r = c.get("/orgs/acme/keys?status=bogus")
		if r.doc.Find(`#filter-status option[selected]`).Length() != 0 {
			t.Error("an unknown status is shown as selected")
		}

		// htmx gets the table alone.
		r = c.get("/orgs/acme/keys?environment=test", "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if !isFragment(r) || r.doc.Find("#keys-table").Length() != 1 || r.doc.Find("#keys-filters, h1, nav").Length() != 0 {
			t.Fatalf("htmx list is not the table alone: %.400s", r.body)
		}
		if !strings.HasPrefix(strings.TrimSpace(r.body), `<div id="keys-table"`) {
			t.Fatalf("htmx list does not start with the table: %.200s", r.body)
		}
		if got := rowIDs(r); strings.Join(got, ",") != reports.ID+","+widget.ID {
			t.Fatalf("htmx rows %v, want the two test keys", got)
		}
		// The table reloads itself with its own filters.
		if got := r.doc.Find("#keys-table").AttrOr("hx-get", ""); got != "/orgs/acme/keys?environment=test" {
			t.Fatalf("table reloads from %q", got)
		}

		// Filters that exclude everything: not the empty state.
		r = c.get("/orgs/acme/keys?kind=public&environment=live")
		wantStatus(t, r, http.StatusOK)
		if len(rowIDs(r)) != 0 || !strings.Contains(r.text("keys-no-match"), "No keys match these filters") || r.testid("keys-empty").Length() != 0 {
			t.Fatalf("no match: want the no-match message: %.400s", r.body)
		}
		r = c.get("/orgs/acme/keys?q=nothing-like-this", "HX-Request", "true")
		if !strings.Contains(r.text("keys-no-match"), "No keys match these filters") {
			t.Fatal("htmx no match: no message")
		}
	})
}

func TestKeysListEmpty(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		bob := k.user("bob@example.com", "Bob", false)
		k.addMember(k.acme.ID, bob.ID, org.Member)

		r := k.admin.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		empty := r.testid("keys-empty")
		if !strings.Contains(empty.Text(), "No API keys yet") {
			t.Fatalf("admin: no empty state: %.400s", r.body)
		}
		if empty.Find(`a[href="/orgs/acme/keys/new"]`).Length() != 1 || r.testid("create-key").Length() != 1 {
			t.Fatal("admin: the empty state has no call to create a key")
		}
		if r.testid("keys-no-match").Length() != 0 {
			t.Fatal("admin: the empty state says no keys match filters")
		}
		// Filters on an empty organization still show the empty state.
		r = k.admin.get("/orgs/acme/keys?status=revoked")
		if r.testid("keys-empty").Length() != 1 {
			t.Fatal("filters on an org without keys: no empty state")
		}

		member := k.client()
		member.mustLogin("bob@example.com")
		r = member.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.text("keys-empty"), "No API keys yet") {
			t.Fatalf("member: no empty state: %.400s", r.body)
		}
		if r.doc.Find(`a[href="/orgs/acme/keys/new"], [hx-get="/orgs/acme/keys/new"]`).Length() != 0 || r.testid("create-key").Length() != 0 {
			t.Fatal("member: the empty state offers to create a key")
		}
	})
}

func TestKeyAudit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := newKeysEnv(t, db, nil)
		c := k.admin
		first, key := k.createKey(c, keyForm("First key"))
		edit := url.Values{"description": {"Edited key"}, "scopes": {"read"}}
		wantRedirect(t, c.post("/orgs/acme/keys/"+key.ID, edit), "/orgs/acme/keys/"+key.ID)
		r := c.post("/orgs/acme/keys/"+key.ID+"/rotate", url.Values{"grace": {"1h"}, "form_token": {randomToken(16)}})
		wantStatus(t, r, http.StatusOK)
		second := revealed(t, r)
		next := k.keyBySecret(second)
		wantRedirect(t, c.post("/orgs/acme/keys/"+next.ID+"/revoke", nil), "/orgs/acme/keys/"+next.ID)

		var events []audit.Event
		if err := db.Where("org_id = ? AND action LIKE ?", k.acme.ID, "key.%").Order("created_at, id").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		want := []struct {
			action, target string
			names          []string
		}{
			{audit.KeyCreated, key.ID, []string{key.Hint, "First key"}},
			{audit.KeyUpdated, key.ID, []string{key.Hint, "Edited key"}},
			{audit.KeyRotated, key.ID, []string{key.Hint, "Edited key", next.Hint}},
			{audit.KeyRevoked, next.ID, []string{next.Hint, "Edited key"}},
		}
		if len(events) != len(want) {
			t.Fatalf("%d key events, want %d: %+v", len(events), len(want), events)
		}
		for i, w := range want {
			ev := events[i]
			if ev.Action != w.action || ev.TargetID != w.target || ev.ActorEmail != "alice@example.com" ||
				ev.ActorID == nil || *ev.ActorID != k.alice.ID {
				t.Errorf("event %d: %s on %s by %q, want %s on %s by alice", i, ev.Action, ev.TargetID, ev.ActorEmail, w.action, w.target)
			}
			for _, name := range w.names {
				if !strings.Contains(ev.Summary, name) {
					t.Errorf("%s summary %q does not name %q", ev.Action, ev.Summary, name)
				}
			}
		}
		text := k.tableText("audit_events")
		for _, secret := range []string{first, second} {
			if strings.Contains(text, secret[len("kp_sk_live_"):]) {
				t.Fatal("the audit log holds a secret")
			}
		}
	})
}
