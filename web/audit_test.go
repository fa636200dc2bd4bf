package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	auditview "keyplane/views/audit"
)

const auditUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) AuditTest/1.0 Safari/537.36"

// events returns the audit events of orgID with action, oldest first.
func (e *env) events(orgID, action string) []audit.Event {
	e.t.Helper()
	var out []audit.Event
	if err := e.db.Where("org_id = ? AND action = ?", orgID, action).Order("created_at, id").Find(&out).Error; err != nil {
		e.t.Fatalf("read events: %v", err)
	}
	return out
}

// oneEvent asserts that orgID has exactly one event with action and returns it.
func (e *env) oneEvent(orgID, action string) audit.Event {
	e.t.Helper()
	evs := e.events(orgID, action)
	if len(evs) != 1 {
		e.t.Fatalf("org %s has %d %s events, want 1: %+v", orgID, len(evs), action, evs)
	}
	return evs[0]
}

func wantActor(t *testing.T, ev audit.Event, u account.User, at time.Time) {
	t.Helper()
	if ev.ActorID == nil || *ev.ActorID != u.ID || ev.ActorEmail != u.Email {
		t.Errorf("%s: actor %v %q, want %s", ev.Action, ev.ActorID, ev.ActorEmail, u.Email)
	}
	if ev.UserAgent != auditUA || ev.IP == "" {
		t.Errorf("%s: ip %q, agent %q; want the request's", ev.Action, ev.IP, ev.UserAgent)
	}
	if !ev.CreatedAt.Equal(at) {
		t.Errorf("%s: at %v, want the fake clock's %v", ev.Action, ev.CreatedAt, at)
	}
}

func TestAuditEventPerAction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		at := time.Date(2031, time.May, 6, 7, 8, 9, 0, time.UTC)
		e.clock.Set(at)
		op := e.user("op@example.com", "Op", true)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		beta := e.org("Beta", "beta", alice.ID)

		ops := e.client()
		ops.mustLogin(op.Email)
		ops.get("/admin/orgs", "User-Agent", auditUA)
		wantRedirect(t, ops.post("/admin/orgs", url.Values{"name": {"Acme"}, "slug": {"acme"}, "admin_id": {alice.ID}}, "User-Agent", auditUA), "/admin/orgs")
		var acme org.Organization
		if err := db.Where("slug = ?", "acme").Take(&acme).Error; err != nil {
			t.Fatal(err)
		}
		wantActor(t, e.oneEvent(acme.ID, audit.OrgCreated), op, at)
		if n := len(e.events(acme.ID, audit.MemberAdded)); n != 1 {
			t.Fatalf("%d member.added after creating acme, want 1 (its admin)", n)
		}
		wantRedirect(t, ops.post("/admin/orgs/members", url.Values{"org_id": {acme.ID}, "user_id": {bob.ID}, "role": {"member"}}, "User-Agent", auditUA), "/admin/orgs")
		added := e.events(acme.ID, audit.MemberAdded)
		if len(added) != 2 || added[1].TargetID != bob.ID {
			t.Fatalf("member.added events = %+v, want a second one for bob", added)
		}
		wantActor(t, added[1], op, at)

		// A failed login is recorded once in each of the user's orgs.
		alc := e.client()
		wantStatus(t, alc.post("/login", url.Values{"email": {alice.Email}, "password": {"wrong password 123"}}, "User-Agent", auditUA), http.StatusUnauthorized)
		for _, id := range []string{acme.ID, beta.ID} {
			wantActor(t, e.oneEvent(id, audit.LoginFailed), alice, at)
			if n := len(e.events(id, audit.LoginSucceeded)); n != 0 {
				t.Errorf("%d login.succeeded after a failed login", n)
			}
		}
		wantRedirect(t, alc.post("/login", url.Values{"email": {alice.Email}, "password": {testPassword}}, "User-Agent", auditUA), "/")
		for _, id := range []string{acme.ID, beta.ID} {
			wantActor(t, e.oneEvent(id, audit.LoginSucceeded), alice, at)
		}

		e.clock.Advance(time.Minute)
		alc.get("/orgs/acme/keys", "User-Agent", auditUA)
		r := alc.post("/orgs/acme/keys", keyForm("Backend"), "User-Agent", auditUA)
		wantStatus(t, r, http.StatusOK)
		key := e.keyBySecret(revealed(t, r))
		created := e.oneEvent(acme.ID, audit.KeyCreated)
		wantActor(t, created, alice, at.Add(time.Minute))
		if created.TargetID != key.ID || created.TargetType != "api_key" {
			t.Errorf("key.created target %s %s, want api_key %s", created.TargetType, created.TargetID, key.ID)
		}
		wantRedirect(t, alc.post("/orgs/acme/keys/"+key.ID+"/revoke", nil, "User-Agent", auditUA), "/orgs/acme/keys/"+key.ID)
		wantActor(t, e.oneEvent(acme.ID, audit.KeyRevoked), alice, at.Add(time.Minute))
		if n := len(e.events(beta.ID, audit.KeyCreated)); n != 0 {
			t.Errorf("beta has %d key events of acme", n)
		}
	})
}

// auditEnv is acme with its admin alice signed in, its member bob, and
// carol, admin of beta.
type auditEnv struct {
	*env
	alice, bob, carol account.User
	acme, beta        org.Organization
	admin             *client
}

var auditStart = time.Date(2030, time.March, 4, 8, 0, 0, 0, time.UTC)

func newAuditEnv(t *testing.T, db *store.DB) *auditEnv {
	t.Helper()
	e := newEnv(t, db, nil)
	e.clock.Set(auditStart)
	a := &auditEnv{env: e}
	a.alice = e.user("alice@example.com", "Alice", false)
	a.bob = e.user("bob@example.com", "Bob", false)
	a.carol = e.user("carol@example.com", "Carol", false)
	a.acme = e.org("Acme", "acme", a.alice.ID)
	a.beta = e.org("Beta", "beta", a.carol.ID)
	e.addMember(a.acme.ID, a.bob.ID, org.Member)
	a.admin = e.client()
	a.admin.mustLogin(a.alice.Email)
	return a
}

// column returns the text of the cells with testid, row by row.
func column(r *resp, testid string) []string {
	var out []string
	r.testid(testid).Each(func(_ int, s *goquery.Selection) { out = append(out, strings.TrimSpace(s.Text())) })
	return out
}

// actionsOf returns the action codes of a page's events, row by row.
func actionsOf(r *resp) []string {
	var out []string
	r.testid("audit-action").Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-action", "")) })
	return out
}

func TestAuditPageFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditEnv(t, db)
		alice := a.admin
		alice.get("/orgs/acme/keys")
		wantStatus(t, alice.post("/orgs/acme/keys", keyForm("First")), http.StatusOK)
		// A day later, keeping the session alive.
		a.clock.Advance(10 * time.Hour)
		alice.get("/orgs/acme/audit")
		a.clock.Advance(10 * time.Hour) // 2030-03-05 04:00
		wantStatus(t, a.client().login(a.bob.Email, "not the password"), http.StatusUnauthorized)
		alice.get("/orgs/acme/keys")
		wantStatus(t, alice.post("/orgs/acme/keys", keyForm("Second")), http.StatusOK)

		r := alice.get("/orgs/acme/audit")
		wantStatus(t, r, http.StatusOK)
		wantActions := []string{audit.KeyCreated, audit.LoginFailed, audit.KeyCreated, audit.LoginSucceeded, audit.MemberAdded, audit.MemberAdded, audit.OrgCreated}
		if got := actionsOf(r); !slices.Equal(got, wantActions) {
			t.Fatalf("actions = %v, want %v", got, wantActions)
		}
		if got := column(r, "audit-actor"); got[1] != a.bob.Email || got[0] != a.alice.Email || got[6] != "keyplane (command line)" {
			t.Errorf("actors = %v", got)
		}
		if got := column(r, "audit-time"); got[0] != "2030-03-05 04:00:00" || got[6] != "2030-03-04 08:00:00" {
			t.Errorf("times = %v, want UTC to the second", got)
		}
		// Actions in words, the code kept for hooks and filters.
		wantWords := []string{"Key created", "Sign-in failed", "Key created", "Signed in", "Member added", "Member added", "Organization created"}
		if got := column(r, "audit-action"); !slices.Equal(got, wantWords) {
			t.Errorf("actions in words = %v, want %v", got, wantWords)
		}
		if got := r.doc.Find(`#filter-action option[value="login.succeeded"]`).Text(); got != "Signed in" {
			t.Errorf("the filter offers login.succeeded as %q", got)
		}
		if got := r.testid("audit-summary").Eq(1).Text(); got != "bob@example.com failed to sign in" {
			t.Errorf("summary = %q", got)
		}
		if r.testid("nav-audit").AttrOr("href", "") != "/orgs/acme/audit" {
			t.Errorf("no Audit log link in the admin's nav")
		}
		// The filter form works without JavaScript and with htmx.
		form := r.doc.Find("#audit-filters")
		for attr, want := range map[string]string{"method": "get", "action": "/orgs/acme/audit", "hx-get": "/orgs/acme/audit", "hx-target": "#audit-table", "hx-push-url": "true"} {
			if got := form.AttrOr(attr, ""); got != want {
				t.Errorf("filter form %s = %q, want %q", attr, got, want)
			}
		}
		if opts := r.doc.Find(`#filter-action option`).Length(); opts != len(audit.Actions)+1 {
			t.Errorf("%d action options, want %d", opts, len(audit.Actions)+1)
		}

		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"action=key.created", []string{audit.KeyCreated, audit.KeyCreated}},
			{"action=member.added", []string{audit.MemberAdded, audit.MemberAdded}},
			{"actor=BOB", []string{audit.LoginFailed}},
			{"actor=bob%40example.com&action=key.created", nil},
			{"from=2030-03-05", []string{audit.KeyCreated, audit.LoginFailed}},
			{"to=2030-03-04", wantActions[2:]},
			{"from=2030-03-04&to=2030-03-04", wantActions[2:]},
			{"from=2030-03-06", nil},
			{"action=bogus&from=yesterday", wantActions},
		} {
			r := alice.get("/orgs/acme/audit?" + tt.query)
			wantStatus(t, r, http.StatusOK)
			if got := actionsOf(r); !slices.Equal(got, tt.want) {
				t.Errorf("%s: actions = %v, want %v", tt.query, got, tt.want)
			}
			if len(tt.want) == 0 && r.testid("audit-no-match").Length() != 1 {
				t.Errorf("%s: no 'no match' state", tt.query)
			}
			// htmx gets the table alone, the same rows.
			h := alice.get("/orgs/acme/audit?"+tt.query, "HX-Request", "true")
			if got := actionsOf(h); !slices.Equal(got, tt.want) || h.doc.Find("nav").Length() != 0 || h.doc.Find("#audit-table").Length() != 1 {
				t.Errorf("%s: htmx fragment actions = %v (nav %d)", tt.query, got, h.doc.Find("nav").Length())
			}
		}
		r = alice.get("/orgs/acme/audit?action=key.created&actor=ali&from=2030-03-04&to=2030-03-05")
		if r.doc.Find(`#filter-action option[selected]`).AttrOr("value", "") != "key.created" ||
			r.doc.Find(`#filter-actor`).AttrOr("value", "") != "ali" || r.doc.Find(`#filter-from`).AttrOr("value", "") != "2030-03-04" ||
			r.doc.Find(`#filter-to`).AttrOr("value", "") != "2030-03-05" {
			t.Errorf("the form does not show the filters")
		}
		if href := r.testid("audit-csv").AttrOr("href", ""); href != "/orgs/acme/audit.csv?action=key.created&actor=ali&from=2030-03-04&to=2030-03-05" {
			t.Errorf("CSV link %q does not keep the filters", href)
		}
	})
}

func TestAuditPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditEnv(t, db)
		ctx := context.Background()
		for i := range 60 {
			at := auditStart.Add(time.Duration(i/2) * time.Second) // pairs share a time
			if err := audit.Record(ctx, db.DB, at, a.acme.ID, audit.Actor{Email: "alice@example.com"}, audit.KeyUpdated, "api_key", "k", fmt.Sprintf("event %02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var want []string
		if err := db.Model(&audit.Event{}).Where("org_id = ? AND action = ?", a.acme.ID, audit.KeyUpdated).
			Order("created_at DESC, id DESC").Pluck("id", &want).Error; err != nil {
			t.Fatal(err)
		}
		ids := func(r *resp) []string {
			var out []string
			r.testid("audit-row").Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-event-id", "")) })
			return out
		}
		r := a.admin.get("/orgs/acme/audit?action=key.updated")
		if got := ids(r); !slices.Equal(got, want[:50]) {
			t.Fatalf("first page = %d rows, want the 50 newest", len(got))
		}
		if r.testid("audit-newer").Length() != 0 {
			t.Errorf("the first page links to newer events")
		}
		older := r.testid("audit-older")
		href := older.AttrOr("href", "")
		if !strings.Contains(href, "action=key.updated") || older.AttrOr("hx-get", "") != href || older.AttrOr("hx-push-url", "") != "true" {
			t.Fatalf("Older link %q (hx-get %q) does not keep the filter", href, older.AttrOr("hx-get", ""))
		}
		r2 := a.admin.get(href)
		if got := ids(r2); !slices.Equal(got, want[50:]) {
			t.Fatalf("second page = %v, want the 10 oldest", got)
		}
		if r2.testid("audit-older").Length() != 0 {
			t.Errorf("the last page links to older events")
		}
		newer := r2.testid("audit-newer").AttrOr("href", "")
		if !strings.Contains(newer, "action=key.updated") {
			t.Fatalf("Newer link %q does not keep the filter", newer)
		}
		if got := ids(a.admin.get(newer, "HX-Request", "true")); !slices.Equal(got, want[:50]) {
			t.Errorf("newer from the second page = %d rows, want the first page", len(got))
		}

		// Unfiltered: 64 events (the setup's 4 and the 60) on two pages.
		r = a.admin.get("/orgs/acme/audit")
		r2 = a.admin.get(r.testid("audit-older").AttrOr("href", ""))
		if n1, n2 := len(ids(r)), len(ids(r2)); n1 != 50 || n2 != 14 {
			t.Errorf("unfiltered pages = %d + %d rows, want 50 + 14", n1, n2)
		}
		if got := actionsOf(r2); got[len(got)-1] != audit.OrgCreated {
			t.Errorf("the oldest event is %q, want org.created", got[len(got)-1])
		}
		// A forged cursor is ignored.
		if got := ids(a.admin.get("/orgs/acme/audit?action=key.updated&before=nonsense")); !slices.Equal(got, want[:50]) {
			t.Errorf("a bad cursor changed the page")
		}
	})
}

func TestAuditAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditEnv(t, db)
		bob := a.client()
		bob.mustLogin(a.bob.Email)
		carol := a.client()
		carol.mustLogin(a.carol.Email)
		for _, path := range []string{"/orgs/acme/audit", "/orgs/acme/audit.csv?action=login.succeeded"} {
			r := bob.get(path)
			wantStatus(t, r, http.StatusForbidden)
			if strings.Contains(r.body, a.alice.Email+" signed in") {
				t.Errorf("%s: the 403 shows events", path)
			}
			want404(t, carol.get(path))
		}
		if r := bob.get("/orgs/acme/keys"); r.testid("nav-audit").Length() != 0 {
			t.Errorf("a member's nav links to the audit log")
		}
		// Carol sees only beta's events.
		r := carol.get("/orgs/beta/audit")
		wantStatus(t, r, http.StatusOK)
		for _, s := range column(r, "audit-summary") {
			if strings.Contains(s, "Acme") || strings.Contains(s, "alice") || strings.Contains(s, "bob") {
				t.Errorf("beta's log shows %q", s)
			}
		}

		// An organization without events shows the empty state.
		empty := org.Organization{ID: store.NewID(), Name: "Empty", Slug: "empty", CreatedAt: auditStart, UpdatedAt: auditStart}
		if err := db.Create(&empty).Error; err != nil {
			t.Fatal(err)
		}
		m := org.Membership{ID: store.NewID(), OrgID: empty.ID, UserID: a.carol.ID, Role: org.Admin, CreatedAt: auditStart, UpdatedAt: auditStart}
		if err := db.Create(&m).Error; err != nil {
			t.Fatal(err)
		}
		r = carol.get("/orgs/empty/audit")
		wantStatus(t, r, http.StatusOK)
		if r.testid("audit-empty").Length() != 1 || r.testid("audit-row").Length() != 0 || r.testid("audit-csv").Length() != 0 {
			t.Errorf("no empty state: %.500s", r.body)
		}
	})
}

// readCSV parses an export, failing unless it is a CSV attachment.
func readCSV(t *testing.T, r *resp) [][]string {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="keyplane-audit-acme-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, r.body)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], []string{"time", "actor", "action", "summary", "ip", "user_agent", "target_type", "target_id"}) {
		t.Fatalf("header row = %v", rows)
	}
	return rows[1:]
}

func TestAuditCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditEnv(t, db)
		ctx := context.Background()
		at := auditStart.Add(time.Hour)
		nasty := []struct {
			actor, summary, ip, agent, targetType, targetID string
		}{
			{"alice@example.com", "comma, \"quotes\"\nand a newline", "192.0.2.1", "Agent, with comma", "api_key", "k1"},
			{"=cmd@example.com", "=HYPERLINK(\"http://evil\")", "+1", "-agent", "@target", "\tTab"},
			{"alice@example.com", "\rcarriage", "-", "@", "+", "="},
		}
		for i, n := range nasty {
			if err := audit.Record(ctx, db.DB, at.Add(time.Duration(i)*time.Second), a.acme.ID, audit.Actor{Email: n.actor, IP: n.ip, UserAgent: n.agent},
				audit.KeyUpdated, n.targetType, n.targetID, n.summary); err != nil {
				t.Fatal(err)
			}
		}
		rows := readCSV(t, a.admin.get("/orgs/acme/audit.csv?action=key.updated"))
		want := [][]string{
			{"2030-03-04T09:00:02Z", "alice@example.com", "key.updated", "'\rcarriage", "'-", "'@", "'+", "'="},
			{"2030-03-04T09:00:01Z", "'=cmd@example.com", "key.updated", "'=HYPERLINK(\"http://evil\")", "'+1", "'-agent", "'@target", "'\tTab"},
			{"2030-03-04T09:00:00Z", "alice@example.com", "key.updated", "comma, \"quotes\"\nand a newline", "192.0.2.1", "Agent, with comma", "api_key", "k1"},
		}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Errorf("CSV rows =\n%q\nwant\n%q", rows, want)
		}

		// Every filter applies; pagination does not.
		all := readCSV(t, a.admin.get("/orgs/acme/audit.csv"))
		if len(all) != 4+3 { // org.created, 2 member.added, alice's login, and the 3
			t.Errorf("unfiltered export has %d rows, want 7: %q", len(all), all)
		}
		if got := readCSV(t, a.admin.get("/orgs/acme/audit.csv?actor=ALICE&action=key.updated&from=2030-03-04&to=2030-03-04")); len(got) != 2 {
			t.Errorf("actor+date export has %d rows, want 2", len(got))
		}
		if got := readCSV(t, a.admin.get("/orgs/acme/audit.csv?from=2030-03-05")); len(got) != 0 {
			t.Errorf("a later day exports %d rows", len(got))
		}
		if len(readCSV(t, a.admin.get("/orgs/acme/audit.csv?action=org.created"))) != 1 {
			t.Errorf("action filter not applied")
		}
	})
}

func TestAuditNeverShowsSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditEnv(t, db)
		wantStatus(t, a.client().login(a.alice.Email, "hunter2 wrong password"), http.StatusUnauthorized)
		a.admin.get("/orgs/acme/keys")
		r := a.admin.post("/orgs/acme/keys", keyForm("Backend"))
		wantStatus(t, r, http.StatusOK)
		secret := revealed(t, r)
		key := a.keyBySecret(secret)
		_, body, _ := strings.Cut(secret, "_")
		page := a.admin.get("/orgs/acme/audit")
		export := a.admin.get("/orgs/acme/audit.csv")
		if !strings.Contains(page.body, key.Hint) || !strings.Contains(page.body, audit.KeyCreated) {
			t.Fatalf("the page does not list the key's creation")
		}
		for name, text := range map[string]string{"page": page.body, "csv": export.body, "events": a.tableText("audit_events")} {
			for _, s := range []string{secret, body, testPassword, "hunter2 wrong password"} {
				if s != "" && strings.Contains(text, s) {
					t.Errorf("the %s holds %q", name, s)
				}
			}
		}
	})
}

// TestAuditActionWords: every action the log records has words of its own.
func TestAuditActionWords(t *testing.T) {
	seen := map[string]string{}
	for _, a := range audit.Actions {
		w := auditview.ActionText(a)
		if w == a || w == "" {
			t.Errorf("action %s has no words", a)
		}
		if other, dup := seen[w]; dup {
			t.Errorf("actions %s and %s share the words %q", a, other, w)
		}
		seen[w] = a
	}
	if got := auditview.ActionText("made.up"); got != "made.up" {
		t.Errorf("an unknown action reads %q, want its code", got)
	}
}
