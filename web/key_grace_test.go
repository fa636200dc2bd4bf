package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

// graceEnv is keysEnv whose server's key service tells the server's own
// verifier of every change, as in production, plus bob, a member of acme,
// and carol, the admin of another organization.
type graceEnv struct {
	*keysEnv
	member, outsider *client
}

func newGraceEnv(t *testing.T, db *store.DB) *graceEnv {
	t.Helper()
	k := newKeysEnv(t, db, nil, func(d *Deps) {
		v := verify.New(verify.Options{Store: verify.DBStore{DB: db}, Prefix: d.Config.KeyPrefix, Now: d.Now, Logger: d.Logger})
		opts := apikey.ConfigOptions(d.Config)
		opts.Now, opts.Changed = d.Now, v.Invalidate
		d.Verifier, d.Keys = v, apikey.NewService(db, opts)
	})
	g := &graceEnv{keysEnv: k}
	bob := k.user("bob@example.com", "Bob", false)
	k.addMember(k.acme.ID, bob.ID, org.Member)
	g.member = k.client()
	g.member.mustLogin("bob@example.com")
	carol := k.user("carol@example.com", "Carol", false)
	other := k.org("Other", "other", carol.ID)
	k.newKey(other.ID, apikey.Input{Description: "theirs"})
	g.outsider = k.client()
	g.outsider.mustLogin("carol@example.com")
	return g
}

// rotated creates a key in acme and rotates it with grace; it returns both
// keys and their secrets. No key is verified before, so no cache is stale.
func (k *keysEnv) rotated(description, grace string) (oldSecret string, old apikey.Key, newSecret string, next apikey.Key) {
	k.t.Helper()
	ctx := context.Background()
	a := audit.Actor{UserID: k.alice.ID, Email: k.alice.Email}
	c, err := k.keys.Create(ctx, k.acme.ID, "", apikey.Input{Description: description, Kind: "private", Environment: "live"}, a)
	if err != nil {
		k.t.Fatal(err)
	}
	n, o, err := k.keys.Rotate(ctx, k.acme.ID, c.Key.ID, grace, "", a)
	if err != nil {
		k.t.Fatal(err)
	}
	return c.Secret, o, n.Secret, n.Key
}

// verifyCode asks the data plane about secret: "" when it is valid, else
// the refusal's code.
func (e *env) verifyCode(secret string) string {
	e.t.Helper()
	rec := serve(e.srv, http.MethodPost, "/v1/verify", "198.51.100.7:40000",
		strings.NewReader(`{"key": "`+secret+`"}`), []string{"Content-Type", "application/json"})
	var body struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		e.t.Fatalf("verify: status %d: %.300s", rec.Code, rec.Body)
	}
	if body.Valid {
		return ""
	}
	return body.Code
}

func (e *env) insertUsage(rows ...usage.Hourly) {
	e.t.Helper()
	if err := usage.Write(context.Background(), e.db, rows); err != nil {
		e.t.Fatalf("insert usage: %v", err)
	}
}

// cutoverRows returns the cut-over table as label → [old, new].
func cutoverRows(t *testing.T, r *resp) (labels []string, cells map[string][2]string) {
	t.Helper()
	cells = map[string][2]string{}
	r.testid("cutover-hours-table").Find("tbody tr").Each(func(_ int, tr *goquery.Selection) {
		label := strings.TrimSpace(tr.Find(`th[scope="row"]`).Text())
		labels = append(labels, label)
		cells[label] = [2]string{
			strings.TrimSpace(tr.Find(`[data-outcome="old"]`).Text()),
			strings.TrimSpace(tr.Find(`[data-outcome="new"]`).Text()),
		}
	})
	return labels, cells
}

func TestKeyCutoverPanel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGraceEnv(t, db)
		_, old, _, next := g.rotated("Billing backend", "24h")
		rotatedAt := g.clock.Now()
		h := rotatedAt.UTC().Truncate(time.Hour)
		page := "/orgs/acme/keys/" + next.ID

		// Right after the rotation: the current hour alone, no requests.
		r := g.admin.get(page)
		wantStatus(t, r, http.StatusOK)
		if r.testid("cutover").Length() != 1 {
			t.Fatalf("no cut-over panel on the new key's page: %.400s", r.body)
		}
		if labels, _ := cutoverRows(t, r); len(labels) != 1 || labels[0] != h.Format("15:04 UTC") {
			t.Fatalf("hours right after the rotation %v, want the current hour only", labels)
		}
		if got := r.text("cutover-last-hour"); got != "The old key was not used in the last hour." {
			t.Errorf("last hour %q", got)
		}
		if r.testid("cutover-empty").Length() != 1 {
			t.Error("no empty state without requests")
		}

		g.clock.Advance(2 * time.Hour)
		cur := h.Add(2 * time.Hour)
		g.insertUsage(
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: h.Add(-time.Hour), Outcome: "allowed", Count: 9999}, // before the rotation
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: h, Outcome: "allowed", Count: 100},
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: h.Add(time.Hour), Outcome: "allowed", Count: 40},
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: h.Add(time.Hour), Outcome: "rate_limited", Count: 3},
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: cur, Outcome: "allowed", Scope: "read", Count: 10},
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: cur, Outcome: "allowed", Scope: "write", Count: 2},
			usage.Hourly{KeyID: old.ID, OrgID: g.acme.ID, Hour: cur, Outcome: "ip_not_allowed", Count: 5},
			usage.Hourly{KeyID: next.ID, OrgID: g.acme.ID, Hour: h.Add(time.Hour), Outcome: "allowed", Count: 60},
			usage.Hourly{KeyID: next.ID, OrgID: g.acme.ID, Hour: cur, Outcome: "allowed", Count: 200},
			usage.Hourly{KeyID: next.ID, OrgID: g.acme.ID, Hour: cur, Outcome: "forbidden", Count: 1},
		)
		wantRows := map[string][2]string{
			h.Format("15:04 UTC"):                    {"100", "0"},
			h.Add(time.Hour).Format("15:04 UTC"):     {"43", "60"},
			h.Add(2 * time.Hour).Format("15:04 UTC"): {"17", "201"},
		}
		for _, c := range []*client{g.admin, g.member} {
			r := c.get(page)
			wantStatus(t, r, http.StatusOK)
			if r.text("cutover") == "" || !strings.Contains(r.text("cutover"), "Rotation in progress") {
				t.Fatal("no Rotation in progress panel")
			}
			labels, cells := cutoverRows(t, r)
			if len(labels) != 3 || labels[0] != h.Format("15:04 UTC") || labels[2] != cur.Format("15:04 UTC") {
				t.Fatalf("hours %v, want the three since the rotation, oldest first", labels)
			}
			for label, want := range wantRows {
				if cells[label] != want {
					t.Errorf("%s: old, new = %v, want %v", label, cells[label], want)
				}
			}
			if got := r.text("cutover-last-hour"); got != "The old key was still used 17 times in the last hour." {
				t.Errorf("last hour %q", got)
			}
			if got := r.text("cutover-last-hour-note"); !strings.Contains(got, "current hour, counted since "+cur.Format("15:04 UTC")) {
				t.Errorf("last hour note %q does not say which hour it counts", got)
			}
			dl := r.testid("cutover-deadline")
			if got := strings.TrimSpace(dl.Text()); got != "in 22 hours" {
				t.Errorf("deadline %q, want in 22 hours", got)
			}
			if got := dl.AttrOr("title", ""); got != old.GraceUntil.UTC().Format(exactLayout) {
				t.Errorf("deadline title %q, want %q", got, old.GraceUntil.UTC().Format(exactLayout))
			}
			if got := r.text("cutover-old"); got != old.Hint {
				t.Errorf("old key named %q, want %q", got, old.Hint)
			}
			if got := r.testid("cutover").Find("rect.chart-hit").Last().AttrOr("data-tip", ""); !strings.HasPrefix(got, cur.Format("15:04 UTC")+": ") || !strings.Contains(got, " 201") {
				t.Errorf("last bar's tooltip %q", got)
			}
		}
		// In the viewer's time zone: the same hours, labelled at half past.
		kolkata := zoneByName("Asia/Kolkata")
		g.member.setCookie(zoneCookie, "Asia/Kolkata")
		r = g.member.get(page)
		if got := r.testid("cutover").AttrOr("data-viewer-tz", ""); got != "Asia/Kolkata" {
			t.Errorf("panel zone %q", got)
		}
		if labels, cells := cutoverRows(t, r); len(labels) != 3 || labels[2] != cur.In(kolkata).Format("15:04 MST") || cells[labels[2]] != [2]string{"17", "201"} {
			t.Errorf("hours in Kolkata %v %v, want the same three labelled %s last", labels, cells, cur.In(kolkata).Format("15:04 MST"))
		}
		if got := r.text("cutover-last-hour-note"); !strings.Contains(got, "counted since "+cur.In(kolkata).Format("15:04")+" IST") {
			t.Errorf("last hour note in Kolkata %q", got)
		}
		g.member.setCookie(zoneCookie, "")

		r = g.admin.get(page)
		end := r.testid("end-grace")
		if end.Length() != 1 || end.AttrOr("href", "") != page+"/end-grace" || end.AttrOr("hx-get", "") != page+"/end-grace" {
			t.Errorf("admin: end-grace action %d, href %q", end.Length(), end.AttrOr("href", ""))
		}
		r = g.member.get(page)
		if r.testid("end-grace").Length() != 0 || strings.Contains(r.body, "/end-grace") || strings.Contains(r.body, "End grace period now") {
			t.Error("member: the panel offers to end the grace period")
		}

		// The old key's own page has no panel; another org sees nothing.
		if r := g.admin.get("/orgs/acme/keys/" + old.ID); r.testid("cutover").Length() != 0 {
			t.Error("the old key's page shows the cut-over panel")
		}
		want404(t, g.outsider.get(page))

		// The window is at most the last 24 hours.
		_, _, _, long := g.rotated("Long grace", "168h")
		g.clock.Advance(30 * time.Hour)
		g.admin.mustLogin("alice@example.com") // the sessions were idle too long
		g.member.mustLogin("bob@example.com")
		now := g.clock.Now().UTC().Truncate(time.Hour)
		r = g.member.get("/orgs/acme/keys/" + long.ID)
		labels, _ := cutoverRows(t, r)
		if len(labels) != 24 || labels[0] != now.Add(-23*time.Hour).Format("15:04 UTC") || labels[23] != now.Format("15:04 UTC") {
			t.Errorf("30 hours after a rotation: hours %v, want the last 24", labels)
		}

		// Past the deadline the panel is gone, the link to the old key stays.
		r = g.admin.get(page)
		wantStatus(t, r, http.StatusOK)
		if r.testid("cutover").Length() != 0 {
			t.Error("the panel is still shown past the grace deadline")
		}
		if r.doc.Find(`a[href="/orgs/acme/keys/`+old.ID+`"]`).Length() != 1 {
			t.Error("the new key no longer links to the key it replaced")
		}

		// Rotated with grace 0: never a panel.
		_, _, _, now0 := g.rotated("Immediate", "0")
		if r := g.admin.get("/orgs/acme/keys/" + now0.ID); r.testid("cutover").Length() != 0 {
			t.Error("a rotation with grace 0 shows the cut-over panel")
		}
	})
}

func TestKeyEndGrace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGraceEnv(t, db)
		oldSecret, old, newSecret, next := g.rotated("Billing backend", "24h")
		page := "/orgs/acme/keys/" + next.ID
		g.clock.Advance(time.Minute)

		// Both keys work, and the old one is now in the verifier's cache.
		if code := g.verifyCode(oldSecret); code != "" {
			t.Fatalf("old key in grace refused: %s", code)
		}
		if code := g.verifyCode(newSecret); code != "" {
			t.Fatalf("new key refused: %s", code)
		}

		unchanged := func(who string) {
			t.Helper()
			if got := g.reload(old.ID); !got.GraceUntil.Equal(*old.GraceUntil) {
				t.Fatalf("%s: the old key's grace moved to %v", who, got.GraceUntil)
			}
		}
		// Members: 403 on both; another org: 404; no CSRF token: 403.
		for _, r := range []*resp{g.member.get(page + "/end-grace"), g.member.post(page+"/end-grace", nil)} {
			wantStatus(t, r, http.StatusForbidden)
		}
		unchanged("member")
		want404(t, g.outsider.get(page+"/end-grace"))
		want404(t, g.outsider.post(page+"/end-grace", nil))
		unchanged("outsider")
		wantStatus(t, g.admin.postRaw(page+"/end-grace", url.Values{}), http.StatusForbidden)
		wantStatus(t, g.admin.postRaw(page+"/end-grace", url.Values{"_csrf": {"forged"}}), http.StatusForbidden)
		unchanged("no CSRF token")

		// The confirmation: a page without htmx, the dialog alone with it.
		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := g.admin.get(page+"/end-grace", hdr...)
			wantStatus(t, r, http.StatusOK)
			if r.text("confirm-hint") != old.Hint || r.text("confirm-description") != "Billing backend" {
				t.Fatalf("confirm %v names %q %q, want the old key", hdr, r.text("confirm-hint"), r.text("confirm-description"))
			}
			if r.doc.Find(`form[method="post"][action="`+page+`/end-grace"]`).Length() != 1 || r.testid("confirm-end-grace").Length() != 1 {
				t.Fatalf("confirm %v: no form posting to the end-grace URL", hdr)
			}
			if hdr != nil && (!isFragment(r) || r.testid("end-grace-modal").Length() != 1) {
				t.Fatalf("htmx confirmation is not the dialog alone: %.300s", r.body)
			}
			if hdr == nil && isFragment(r) {
				t.Fatal("the confirmation without htmx is not a page")
			}
		}
		unchanged("GET confirmation")

		wantRedirect(t, g.admin.post(page+"/end-grace", nil), page)
		now := g.clock.Now()
		if got := g.reload(old.ID); got.GraceUntil == nil || !got.GraceUntil.Equal(now) || got.RevokedAt != nil {
			t.Fatalf("old key after ending its grace: GraceUntil %v, want %v", got.GraceUntil, now)
		}
		if code := g.verifyCode(oldSecret); code != "key_expired" {
			t.Fatalf("old key after ending its grace: code %q, want key_expired", code)
		}
		if code := g.verifyCode(newSecret); code != "" {
			t.Fatalf("new key refused after ending the old one's grace: %s", code)
		}
		r := g.admin.get(page)
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.body, "Ended the grace period of "+old.Hint+" (Billing backend)") {
			t.Error("no flash after ending the grace period")
		}
		if r.testid("cutover").Length() != 0 || r.testid("end-grace").Length() != 0 {
			t.Error("the panel is still shown after ending the grace period")
		}
		if r := g.admin.get("/orgs/acme/keys/" + old.ID); r.text("key-status") != "expired" {
			t.Errorf("old key status %q, want expired", r.text("key-status"))
		}
		evs, err := audit.List(context.Background(), g.db.DB, g.acme.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ended []audit.Event
		for _, e := range evs {
			if e.Action == audit.KeyGraceEnded {
				ended = append(ended, e)
			}
		}
		if len(ended) != 1 || ended[0].TargetID != old.ID || ended[0].ActorEmail != "alice@example.com" || !strings.Contains(ended[0].Summary, old.Hint) {
			t.Errorf("key.grace_ended events %+v", ended)
		}

		// Again: a clear conflict, as a page or a toast, never a 500.
		for _, r := range []*resp{g.admin.post(page+"/end-grace", nil), g.admin.get(page + "/end-grace")} {
			wantStatus(t, r, http.StatusConflict)
			if r.testid("error-page").Length() != 1 || !strings.Contains(r.body, "already over") {
				t.Fatalf("%s again: not a page saying the grace is over: %.300s", r.Request.Method, r.body)
			}
		}
		r = g.admin.post(page+"/end-grace", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusConflict)
		if r.Header.Get("HX-Retarget") == "" || !strings.Contains(r.body, "already over") {
			t.Fatalf("htmx end-grace again: not a toast: %.300s", r.body)
		}
		// A key that replaced nothing, and the old key itself: conflicts too.
		for _, id := range []string{old.ID, g.newKey(g.acme.ID, apikey.Input{Description: "plain"}).ID} {
			r := g.admin.post("/orgs/acme/keys/"+id+"/end-grace", nil)
			wantStatus(t, r, http.StatusConflict)
			if !strings.Contains(r.body, "no grace period to end") {
				t.Errorf("end-grace on a key that replaced nothing: %.300s", r.body)
			}
		}
		if n := len(ended); n != 1 {
			t.Fatalf("%d events", n)
		}

		// With htmx, success redirects through HX-Redirect.
		oldSecret2, _, _, next2 := g.rotated("Second", "1h")
		if code := g.verifyCode(oldSecret2); code != "" {
			t.Fatalf("second old key refused: %s", code)
		}
		page2 := "/orgs/acme/keys/" + next2.ID
		r = g.admin.post(page2+"/end-grace", nil, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if got := r.Header.Get("HX-Redirect"); got != page2 {
			t.Fatalf("htmx end-grace: HX-Redirect %q, want %q", got, page2)
		}
		if code := g.verifyCode(oldSecret2); code != "key_expired" {
			t.Fatalf("second old key after ending its grace: code %q, want key_expired", code)
		}
	})
}

// TestKeyCutoverStillUsing: the cut-over panel names the addresses and
// origins that sent the old key requests since the rotation, and only
// those.
func TestKeyCutoverStillUsing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGraceEnv(t, db)
		_, old, _, next := g.rotated("Billing backend", "24h")
		rotatedAt := g.clock.Now()
		page := "/orgs/acme/keys/" + next.ID
		r := g.member.get(page)
		wantStatus(t, r, http.StatusOK)
		if got := r.text("cutover-still-using"); !strings.Contains(got, "No client has used the old key since the rotation.") {
			t.Errorf("before any request: %q", got)
		}

		rec := usage.NewRecorder(db, nil, nil)
		rec.Record(old.ID, g.acme.ID, rotatedAt.Add(-time.Minute), "allowed", "", netip.MustParseAddr("192.0.2.1"), "")
		rec.Record(old.ID, g.acme.ID, rotatedAt.Add(time.Minute), "allowed", "", netip.MustParseAddr("192.0.2.2"), "https://app.example.com/x")
		rec.Record(next.ID, g.acme.ID, rotatedAt.Add(time.Minute), "allowed", "", netip.MustParseAddr("192.0.2.3"), "")
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(10 * time.Minute)
		r = g.member.get(page)
		wantStatus(t, r, http.StatusOK)
		var ips, origins []string
		r.testid("still-using-ip").Each(func(_ int, s *goquery.Selection) { ips = append(ips, s.Find(".font-mono").Text()) })
		r.testid("still-using-origin").Each(func(_ int, s *goquery.Selection) { origins = append(origins, s.Find(".font-mono").Text()) })
		if len(ips) != 1 || ips[0] != "192.0.2.2" {
			t.Errorf("addresses still using the old key: %v, want only the one after the rotation", ips)
		}
		if len(origins) != 1 || origins[0] != "https://app.example.com" {
			t.Errorf("origins still using the old key: %v", origins)
		}
	})
}
