package web

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// DELETE /api/v1/members/{id}?rotate_keys=true rotates the keys the member
// created or rotated and answers the new ones with their secrets, once;
// without it, nothing is rotated.
func TestAPIRemoveMemberRotatesKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		ctx := context.Background()
		bob := audit.Actor{UserID: a.bob.ID, Email: a.bob.Email}
		mine, err := a.keys.Create(ctx, a.acme.ID, "", apikey.Input{Description: "Bob's", Kind: "private", Environment: "live"}, bob)
		if err != nil {
			t.Fatal(err)
		}
		path := "/api/v1/members/" + a.bob.ID

		r := a.call("DELETE", "/v1/members/{id}", path+"?rotate_keys=true&grace=2h", key, "")
		if r.status != 422 {
			t.Errorf("grace 2h: %d %s", r.status, r.raw)
		}
		now := a.clock.Now()
		r = a.call("DELETE", "/v1/members/{id}", path+"?rotate_keys=true&grace=7d", key, "")
		if r.status != 200 || r.body["email"] != a.bob.Email {
			t.Fatalf("remove with rotate_keys: %d %s", r.status, r.raw)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		rotated, _ := r.body["rotated_keys"].([]any)
		if len(rotated) != 1 || r.body["not_rotated"] != nil {
			t.Fatalf("rotated_keys %v, not_rotated %v; want Bob's key", r.body["rotated_keys"], r.body["not_rotated"])
		}
		nk := rotated[0].(map[string]any)
		secret, _ := nk["secret"].(string)
		if secret == "" || nk["hint"] != apikey.Hint(secret) || nk["description"] != "Bob's" {
			t.Fatalf("new key %v", nk)
		}
		if got := a.keyBySecret(secret); got.ReplacesID == nil || *got.ReplacesID != mine.Key.ID {
			t.Errorf("the new key replaces %v", got.ReplacesID)
		}
		if old := a.reload(mine.Key.ID); !old.InGrace(now) || !old.GraceUntil.Equal(now.Add(7*24*time.Hour)) {
			t.Errorf("old key grace until %v, want 7 days", old.GraceUntil)
		}
		if code := a.verifyCode(secret); code != "" {
			t.Errorf("the new key is refused: %s", code)
		}

		// Without rotate_keys: the member as before, nothing rotated.
		carol := a.user("carol@example.com", "Carol", false)
		a.addMember(a.acme.ID, carol.ID, "member")
		theirs, err := a.keys.Create(ctx, a.acme.ID, "", apikey.Input{Description: "Carol's", Kind: "private", Environment: "live"}, audit.Actor{UserID: carol.ID})
		if err != nil {
			t.Fatal(err)
		}
		r = a.call("DELETE", "/v1/members/{id}", "/api/v1/members/"+carol.ID, key, "")
		if r.status != 200 || r.body["rotated_keys"] != nil {
			t.Fatalf("plain remove: %d %s", r.status, r.raw)
		}
		if k := a.reload(theirs.Key.ID); k.ReplacedByID != nil {
			t.Error("a plain removal rotated a key")
		}
	})
}
