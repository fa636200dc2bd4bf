package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// The rotate dialog offers the quiet-hour rule, off by default; it is
// refused with a grace of an hour or less; asked with 24 hours, the
// cut-over panel states it and its last request, and a quiet hour ends
// the grace: the data plane refuses the old key at once.
func TestKeyRotateQuietHour(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGraceEnv(t, db)
		c := g.admin
		oldSecret, old := g.createKey(c, keyForm("Quiet backend"))
		page := "/orgs/acme/keys/" + old.ID

		for _, hdr := range [][]string{nil, {"HX-Request", "true"}} {
			r := c.get(page+"/rotate", hdr...)
			wantStatus(t, r, http.StatusOK)
			box := r.doc.Find(`input[type="checkbox"][name="end_when_quiet"]`)
			if box.Length() != 1 {
				t.Fatalf("rotate %v: no quiet-hour checkbox", hdr)
			}
			if _, on := box.Attr("checked"); on {
				t.Errorf("rotate %v: the quiet-hour rule is on by default", hdr)
			}
			if id, _ := box.Attr("id"); r.doc.Find(`label[for="`+id+`"]`).Length() != 1 {
				t.Errorf("rotate %v: the checkbox has no label", hdr)
			}
		}

		// Members: 403; another org: 404; no CSRF token: 403. Nothing rotates.
		quiet := url.Values{"grace": {"24h"}, "end_when_quiet": {"on"}, "form_token": {randomToken(16)}}
		wantStatus(t, g.member.post(page+"/rotate", quiet), http.StatusForbidden)
		want404(t, g.outsider.post(page+"/rotate", quiet))
		wantStatus(t, c.postRaw(page+"/rotate", quiet), http.StatusForbidden)
		if got := g.reload(old.ID); got.ReplacedByID != nil {
			t.Fatal("a refused request rotated the key")
		}

		// With grace 0 or 1h the rule is refused, saying why; the form
		// keeps the choices.
		for _, grace := range []string{"0", "1h"} {
			r := c.post(page+"/rotate", url.Values{"grace": {grace}, "end_when_quiet": {"on"}, "form_token": {randomToken(16)}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(r.text("form-error"), "needs a longer grace period") {
				t.Errorf("grace %s with the rule: error %q", grace, r.text("form-error"))
			}
			if _, on := r.doc.Find(`input[name="end_when_quiet"]`).Attr("checked"); !on {
				t.Errorf("grace %s: the refused form lost the ticked box", grace)
			}
			if _, on := r.doc.Find(`input[name="grace"][value="` + grace + `"]`).Attr("checked"); !on {
				t.Errorf("grace %s: the refused form lost the grace chosen", grace)
			}
		}
		if n := g.count("api_keys"); n != 2 { // acme's and the other org's
			t.Fatalf("%d keys after refused rotations, want 2", n)
		}

		rotatedAt := g.clock.Now()
		r := c.post(page+"/rotate", quiet)
		wantStatus(t, r, http.StatusOK)
		newSecret := revealed(t, r)
		if !strings.Contains(r.text("rotation-note"), "or until it has had no request for an hour") {
			t.Errorf("the reveal's note %q does not state the rule", r.text("rotation-note"))
		}
		o := g.reload(old.ID)
		if o.GraceQuietFrom == nil || !o.GraceQuietFrom.Equal(rotatedAt) {
			t.Fatalf("old key's GraceQuietFrom %v, want the rotation's time", o.GraceQuietFrom)
		}
		next := g.keyBySecret(newSecret)
		cut := "/orgs/acme/keys/" + next.ID

		// The panel: no request since the rotation.
		g.clock.Advance(5 * time.Minute)
		r = g.member.get(cut)
		wantStatus(t, r, http.StatusOK)
		if got := r.text("cutover-quiet"); !strings.Contains(got, "Ends early once the old key has been quiet for an hour: no request since the rotation 5 minutes ago.") ||
			r.text("cutover-quiet-ends") != "in 55 minutes" {
			t.Errorf("quiet rule on the panel %q (ends %q)", got, r.text("cutover-quiet-ends"))
		}

		// A request with the old key; 12 minutes on, the panel says so.
		if code := g.verifyCode(oldSecret); code != "" {
			t.Fatalf("old key in grace refused: %s", code)
		}
		if err := db.Model(&apikey.Key{}).Where("id = ?", old.ID).Update("last_used_at", g.clock.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(12 * time.Minute)
		r = c.get(cut)
		if got := r.text("cutover-quiet"); !strings.Contains(got, "Ends early once the old key has been quiet for an hour: last request 12 minutes ago.") ||
			r.text("cutover-quiet-ends") != "in 48 minutes" {
			t.Errorf("quiet rule after a request %q (ends %q)", got, r.text("cutover-quiet-ends"))
		}
		// Not quiet for an hour yet: the pass leaves it.
		if n, err := g.keys.EndQuietGraces(context.Background()); err != nil || n != 0 {
			t.Fatalf("EndQuietGraces 12 minutes after a request: %d, %v", n, err)
		}
		if code := g.verifyCode(oldSecret); code != "" {
			t.Fatalf("old key refused within the hour: %s", code)
		}

		g.clock.Advance(48 * time.Minute)
		if n, err := g.keys.EndQuietGraces(context.Background()); err != nil || n != 1 {
			t.Fatalf("EndQuietGraces after a quiet hour: %d, %v", n, err)
		}
		if code := g.verifyCode(oldSecret); code != "key_expired" {
			t.Fatalf("old key after a quiet hour: %q, want key_expired", code)
		}
		if code := g.verifyCode(newSecret); code != "" {
			t.Fatalf("new key refused: %s", code)
		}
		r = c.get(cut)
		if r.testid("cutover").Length() != 0 {
			t.Error("the cut-over panel is still shown once the grace ended")
		}
		evs, err := audit.List(context.Background(), g.db.DB, g.acme.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ended int
		for _, e := range evs {
			if e.Action == audit.KeyGraceEnded && e.TargetID == old.ID && e.ActorEmail == "the rotation's quiet-hour rule" {
				ended++
			}
		}
		if ended != 1 {
			t.Errorf("%d key.grace_ended events by the rule, want 1", ended)
		}
		// Without the rule the panel says nothing of it.
		_, _, _, plain := g.rotated("Plain backend", "24h")
		if r := c.get("/orgs/acme/keys/" + plain.ID); r.testid("cutover").Length() != 1 || r.testid("cutover-quiet").Length() != 0 {
			t.Error("a rotation without the rule: no panel, or the rule stated")
		}
	})
}
