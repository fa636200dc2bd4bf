package webhook

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestEndpointLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, Options{MaxEndpoints: 2})
		ctx := context.Background()
		c, err := f.svc.Create(ctx, f.orgID, Input{URL: " https://hooks.example.com/k ", Description: " Billing ", Events: []string{KeyRevoked, KeyCreated, KeyCreated}}, admin)
		if err != nil {
			t.Fatal(err)
		}
		e := c.Endpoint
		if e.URL != "https://hooks.example.com/k" || e.Description != "Billing" || strings.Join(e.Events, ",") != "key.created,key.revoked" || e.Paused() || e.CreatedBy != admin.Email {
			t.Errorf("created %+v", e)
		}
		if !strings.HasPrefix(c.Secret, "whsec_") {
			t.Errorf("secret %q", c.Secret)
		}
		// Stored sealed: the secret's text is nowhere in the row.
		var raw endpointRow
		db.Where("id = ?", e.ID).Take(&raw)
		if bytes.Contains(raw.Secret, []byte(c.Secret)) || bytes.Contains(raw.Secret, []byte(strings.TrimPrefix(c.Secret, "whsec_"))) {
			t.Error("the secret is stored in clear")
		}
		if got, err := f.svc.openSecret(e.ID, raw.Secret); err != nil || got != c.Secret {
			t.Errorf("sealed secret opens to %q, %v", got, err)
		}

		got, err := f.svc.Get(ctx, f.orgID, e.ID)
		if err != nil || got.URL != e.URL {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		other, err := org.NewService(db, nil).CreateWithoutMembers(ctx, "Other", "other", audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"get": func() error { _, err := f.svc.Get(ctx, other.ID, e.ID); return err },
			"update": func() error {
				_, err := f.svc.Update(ctx, other.ID, e.ID, Input{URL: "https://x.example.com", Events: []string{AllEvents}}, admin)
				return err
			},
			"pause":  func() error { _, err := f.svc.SetPaused(ctx, other.ID, e.ID, true, admin); return err },
			"delete": func() error { _, err := f.svc.Delete(ctx, other.ID, e.ID, admin); return err },
			"rotate": func() error { _, err := f.svc.RotateSecret(ctx, other.ID, e.ID, admin); return err },
			"test":   func() error { _, err := f.svc.SendTest(ctx, other.ID, e.ID, admin); return err },
			"bad id": func() error { _, err := f.svc.Get(ctx, f.orgID, "not-an-id"); return err },
		} {
			if err := call(); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s from another org: %v, want NotFound", name, err)
			}
		}

		up, err := f.svc.Update(ctx, f.orgID, e.ID, Input{URL: "https://hooks2.example.com/k", Events: []string{AllEvents, KeyCreated}}, admin)
		if err != nil || up.URL != "https://hooks2.example.com/k" || !up.AllEvents() || up.Description != "" {
			t.Errorf("Update = %+v, %v", up, err)
		}
		if _, err := f.svc.Update(ctx, f.orgID, e.ID, Input{URL: "http://10.0.0.1/", Events: []string{"key.bogus"}, Description: strings.Repeat("d", 201)}, admin); !apperr.Is(err, apperr.Invalid) || len(apperr.FieldsOf(err)) != 3 {
			t.Errorf("bad update: %v %v", err, apperr.FieldsOf(err))
		}

		if p, err := f.svc.SetPaused(ctx, f.orgID, e.ID, true, admin); err != nil || !p.Paused() {
			t.Errorf("pause = %+v, %v", p, err)
		}
		if _, err := f.svc.SetPaused(ctx, f.orgID, e.ID, true, admin); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("pause twice: %v", err)
		}
		if p, err := f.svc.SetPaused(ctx, f.orgID, e.ID, false, admin); err != nil || p.Paused() {
			t.Errorf("resume = %+v, %v", p, err)
		}

		r, err := f.svc.RotateSecret(ctx, f.orgID, e.ID, admin)
		if err != nil || r.Secret == c.Secret || !strings.HasPrefix(r.Secret, SecretPrefix) {
			t.Errorf("rotate = %q, %v", r.Secret, err)
		}

		if _, err := f.svc.Create(ctx, f.orgID, Input{URL: "https://b.example.com", Events: []string{AllEvents}}, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, f.orgID, Input{URL: "https://c.example.com", Events: []string{AllEvents}}, admin); !apperr.Is(err, apperr.Limit) {
			t.Errorf("third endpoint with a limit of 2: %v", err)
		}
		if _, err := f.svc.Create(ctx, f.orgID, Input{URL: "https://c.example.com"}, admin); !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["events"] == "" {
			t.Errorf("no events: %v", err)
		}

		if err := f.svc.Enqueue(ctx, f.orgID, KeyCreated, map[string]string{"id": "k"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Delete(ctx, f.orgID, e.ID, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Get(ctx, f.orgID, e.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("deleted endpoint: %v", err)
		}
		var left int64
		db.Model(&Delivery{}).Where("endpoint_id = ?", e.ID).Count(&left)
		if left != 0 {
			t.Errorf("%d deliveries of a deleted endpoint remain", left)
		}

		var actions []string
		db.Model(&audit.Event{}).Where("org_id = ? AND target_type = ?", f.orgID, "webhook").Order("created_at, id").Pluck("action", &actions)
		want := []string{audit.WebhookCreated, audit.WebhookUpdated, audit.WebhookPaused, audit.WebhookResumed, audit.WebhookSecretRotated, audit.WebhookCreated, audit.WebhookDeleted}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Errorf("audit actions %v, want %v", actions, want)
		}
		var summaries []string
		db.Model(&audit.Event{}).Where("org_id = ?", f.orgID).Pluck("summary", &summaries)
		for _, s := range summaries {
			if strings.Contains(s, "whsec_") {
				t.Errorf("audit summary holds a secret: %s", s)
			}
		}

		// A receiver's own token in the URL stays out of the audit log,
		// which is kept for good.
		tok, err := f.svc.Create(ctx, f.orgID, Input{URL: "https://hooks.example.com/in/s3cr3t-receiver-token?key=abc", Events: []string{AllEvents}}, admin)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Endpoint.Label(); got != "https://hooks.example.com/…" {
			t.Errorf("Label = %q", got)
		}
		summaries = nil
		db.Model(&audit.Event{}).Where("org_id = ?", f.orgID).Pluck("summary", &summaries)
		for _, s := range summaries {
			if strings.Contains(s, "s3cr3t-receiver-token") || strings.Contains(s, "key=abc") {
				t.Errorf("audit summary holds the URL's path or query: %s", s)
			}
		}
	})
}
