package apikey

import (
	"context"
	"crypto/sha256"
	"hash/crc32"
	"regexp"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestReportLeak: a live key found in public is flagged once (where, when,
// by whom) and audited in its own organization; unknown and revoked keys
// are not found and nothing changes; under the "disable" policy a private
// key is disabled at once and every server told, a public one is not.
func TestReportLeak(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		scanner := audit.Actor{Program: "GitHub secret scanning"}
		report := func(secret string) (Leaked, bool) {
			t.Helper()
			sum := sha256.Sum256([]byte(secret))
			got, ok, err := f.svc.ReportLeak(ctx, sum[:], Leak{URL: "https://github.com/acme/app/blob/main/.env", Source: "GitHub secret scanning"}, scanner)
			if err != nil {
				t.Fatalf("ReportLeak: %v", err)
			}
			return got, ok
		}

		// Notify (the default): flagged, still working, audited once.
		c := f.create(t, privateInput())
		f.takeChanged()
		got, ok := report(c.Secret)
		if !ok || !got.First || got.Disabled {
			t.Fatalf("first report: %+v, ok %v", got, ok)
		}
		k := f.get(t, c.Key.ID)
		if k.LeakedAt == nil || !k.LeakedAt.Equal(f.clock.Now()) || k.LeakedURL != "https://github.com/acme/app/blob/main/.env" || k.LeakedSource != "GitHub secret scanning" {
			t.Errorf("flag: %v %q %q", k.LeakedAt, k.LeakedURL, k.LeakedSource)
		}
		if k.StatusAt(f.clock.Now()) != Active {
			t.Errorf("status %q under notify, want active", k.StatusAt(f.clock.Now()))
		}
		f.assertChanged(t)
		if ev := f.events(t, f.org, audit.KeyLeaked); len(ev) != 1 || ev[0].ActorEmail != "GitHub secret scanning" {
			t.Errorf("audit events: %+v", ev)
		}
		f.clock.Advance(time.Hour)
		if got, ok := report(c.Secret); !ok || got.First {
			t.Errorf("second report: %+v, ok %v; want found, not first", got, ok)
		}
		if k2 := f.get(t, c.Key.ID); !k2.LeakedAt.Equal(*k.LeakedAt) || len(f.events(t, f.org, audit.KeyLeaked)) != 1 {
			t.Error("a second report changed the flag or was audited again")
		}

		// Unknown and revoked keys: not found, nothing written.
		if _, ok := report("kp_sk_live_notakeyatall"); ok {
			t.Error("an unknown token was found")
		}
		r := f.create(t, privateInput())
		if _, err := f.svc.Revoke(ctx, f.org, r.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, ok := report(r.Secret); ok {
			t.Error("a revoked key was found")
		}
		if f.get(t, r.Key.ID).LeakedAt != nil {
			t.Error("a revoked key was flagged")
		}

		// Disable: a private key stops at once, every server told.
		if err := db.Exec("UPDATE organizations SET leak_policy = 'disable' WHERE id = ?", f.org).Error; err != nil {
			t.Fatal(err)
		}
		p := f.create(t, privateInput())
		f.takeChanged()
		got, ok = report(p.Secret)
		if !ok || !got.Disabled {
			t.Fatalf("report under disable: %+v, ok %v", got, ok)
		}
		if st := f.get(t, p.Key.ID).StatusAt(f.clock.Now()); st != Disabled {
			t.Errorf("status %q under disable, want disabled", st)
		}
		f.assertChanged(t, p.Key.KeyHash)
		if ev := f.events(t, f.org, audit.KeyDisabled); len(ev) != 1 || ev[0].ActorEmail != "the leak policy" {
			t.Errorf("disable events: %+v", ev)
		}
		// A public key is flagged, never disabled.
		pub := f.create(t, publicInput())
		f.takeChanged()
		got, ok = report(pub.Secret)
		if !ok || !got.First || got.Disabled {
			t.Errorf("public key report: %+v, ok %v", got, ok)
		}
		if st := f.get(t, pub.Key.ID).StatusAt(f.clock.Now()); st != Active {
			t.Errorf("public key status %q, want active", st)
		}
		f.assertChanged(t)
	})
}

// TestSecretScanningPattern: the pattern the README gives for registering
// the default format with GitHub matches every kind of key Keyplane makes,
// and its checksum is what the README says it is.
func TestSecretScanningPattern(t *testing.T) {
	pattern := regexp.MustCompile(`\bkp_(?:sk|pk)_(?:live|test)_[0-9A-Za-z]{36}\b`)
	for _, kind := range []Kind{Private, Public} {
		for _, env := range []Environment{Live, Test} {
			key, err := Generate(nil, "kp", kind, env)
			if err != nil {
				t.Fatal(err)
			}
			if !pattern.MatchString("API_KEY=" + key + "\n") {
				t.Errorf("%s does not match the README's pattern", key)
			}
			body := key[:len(key)-ChecksumLen]
			v := crc32.ChecksumIEEE([]byte(body))
			want := []byte("000000")
			for i := ChecksumLen - 1; v > 0; i-- {
				want[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[v%62]
				v /= 62
			}
			if key[len(key)-ChecksumLen:] != string(want) {
				t.Errorf("%s: checksum %s, want %s as the README describes", key, key[len(key)-ChecksumLen:], want)
			}
		}
	}
}
