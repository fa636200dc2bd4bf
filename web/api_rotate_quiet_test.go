package web

import (
	"slices"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// POST /api/v1/keys/{id}/rotate takes end_when_quiet: refused with a grace
// of an hour or less, stored on the old key with a longer one.
func TestAPIRotateQuietHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPIEnv(t, db)
		key := a.creds[credManage]
		id := a.ids[credRead]
		path := "/api/v1/keys/" + id + "/rotate"
		for _, body := range []string{`{"grace": "0", "end_when_quiet": true}`, `{"grace": "1h", "end_when_quiet": true}`} {
			r := a.call("POST", "/v1/keys/{id}/rotate", path, key, body)
			if r.status != 422 || !slices.Equal(r.fields(), []string{"end_when_quiet"}) {
				t.Errorf("%s: %d %s, want 422 naming end_when_quiet", body, r.status, r.raw)
			}
		}
		if got := a.reload(id); got.ReplacedByID != nil {
			t.Fatal("a refused rotation rotated the key")
		}
		r := a.call("POST", "/v1/keys/{id}/rotate", path, key, `{"grace": "7d", "end_when_quiet": true}`)
		if r.status != 201 || r.body["secret"] == nil {
			t.Fatalf("rotate with the rule: %d %s", r.status, r.raw)
		}
		if got := a.reload(id); got.GraceQuietFrom == nil || !got.GraceQuietFrom.Equal(a.clock.Now()) {
			t.Errorf("old key's GraceQuietFrom %v, want the rotation's time", got.GraceQuietFrom)
		}
		// Without it, as before: the rule stays off.
		id = a.ids[credAdmin]
		r = a.call("POST", "/v1/keys/{id}/rotate", "/api/v1/keys/"+id+"/rotate", key, `{"grace": "24h"}`)
		if r.status != 201 {
			t.Fatalf("rotate: %d %s", r.status, r.raw)
		}
		if got := a.reload(id); got.GraceQuietFrom != nil {
			t.Errorf("a rotation without end_when_quiet set the rule: %v", got.GraceQuietFrom)
		}
	})
}
