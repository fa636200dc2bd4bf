package web

import (
	"context"

	"keyplane/internal/audit"
	"keyplane/internal/idempotency"
	"keyplane/internal/optoken"
	"keyplane/internal/product"
	"keyplane/internal/secretbox"
	"keyplane/internal/setup"
	"keyplane/internal/store"
	"keyplane/internal/twofactor"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
	"keyplane/internal/webhook"
)

// withServices completes d over db with what the server needs beyond its
// accounts, orgs and keys: the audit log, usage reads, the first-run setup
// with the configured token, and a data plane verifier.
// testEncryptionKey seals two-factor seeds in tests.
const testEncryptionKey = "test-encryption-key-0123456789abcdef"

func withServices(d *Deps, db *store.DB) {
	d.Audit = audit.NewService(db, d.Now)
	d.UsageReader = usage.NewReader(db)
	d.Setup = setup.New(db, d.Accounts, d.Orgs, d.Config.SetupToken)
	d.Idempotency = idempotency.NewService(db, d.Now)
	d.Tokens = optoken.NewService(db, d.Config.KeyPrefix, d.Now)
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(testEncryptionKey)})
	if err != nil {
		panic(err)
	}
	d.TwoFactor = twofactor.NewService(db, box, d.Now)
	if d.Webhooks == nil {
		d.Webhooks = webhook.NewService(db, webhook.Options{Box: box, Now: d.Now, Logger: d.Logger})
	}
	if d.Products == nil {
		products, err := product.NewService(context.Background(), db, d.Config, d.Now)
		if err != nil {
			panic(err)
		}
		d.Products = products
	}
	if d.Verifier == nil {
		d.Verifier = verify.New(verify.Options{Store: verify.DBStore{DB: db}, Prefix: d.Config.KeyPrefix, Now: d.Now, Logger: d.Logger})
	}
}
