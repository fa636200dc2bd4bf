package apikey

import (
	"context"
	"errors"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// A revoke inside a caller's transaction lives and dies with it, and this
// server's caches hear of it only once it commits.
func TestRevokeJoinsTheCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c := f.create(t, privateInput())
		f.takeChanged()
		boom := errors.New("boom")

		err := db.WithTx(ctx, func(ctx context.Context) error {
			if _, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor); err != nil {
				return err
			}
			if len(f.takeChanged()) != 0 {
				t.Error("Changed heard of the revoke before the commit")
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if k := f.get(t, c.Key.ID); k.RevokedAt != nil {
			t.Fatal("the revoke outlived the rollback")
		}
		f.assertChanged(t)

		err = db.WithTx(ctx, func(ctx context.Context) error {
			_, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor)
			return err
		})
		if err != nil {
			t.Fatalf("revoke in a transaction: %v", err)
		}
		if k := f.get(t, c.Key.ID); k.RevokedAt == nil {
			t.Fatal("the committed revoke is not stored")
		}
		f.assertChanged(t, c.Key.KeyHash)
	})
}
