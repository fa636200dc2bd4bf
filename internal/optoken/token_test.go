package optoken_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/clocktest"
	"keyplane/internal/optoken"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestFormat(t *testing.T) {
	tok, err := optoken.Generate(nil, "kp")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "kp_op_") || len(tok) != len("kp_op_")+36 {
		t.Fatalf("token %q", tok)
	}
	if err := optoken.Parse(tok, "kp"); err != nil {
		t.Errorf("parse own token: %v", err)
	}
	if optoken.Hint(tok) != "kp_op_…"+tok[len(tok)-4:] {
		t.Errorf("hint %q", optoken.Hint(tok))
	}
	key, _ := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
	flipped := tok[:10] + string(rune(tok[10]^1)) + tok[11:]
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1] + "!", flipped, strings.Replace(tok, "kp_", "xx_", 1), key, "kp_op_short"} {
		if optoken.Parse(bad, "kp") == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if optoken.Parse(tok, "acme") == nil {
		t.Error("a token of another prefix parsed")
	}
	if _, err := apikey.Parse(tok, "kp"); err == nil {
		t.Error("an operator token parses as an API key")
	}
}

func TestService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := clocktest.New(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
		s := optoken.NewService(db, "kp", clock.Now)
		_, _, err := s.Create(ctx, optoken.Input{Name: " ", IPs: []string{"nope"}, ExpiresIn: -time.Hour})
		if f := apperr.FieldsOf(err); f["name"] == "" || f["ips"] == "" || f["expires_in"] == "" {
			t.Fatalf("invalid input: %v", err)
		}
		secret, tok, err := s.Create(ctx, optoken.Input{Name: "Provisioner", ExpiresIn: 24 * time.Hour, IPs: []string{"10.1.2.3/8", "192.0.2.7"}, CreatedBy: "op@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(tok.TokenHash), secret) || tok.Hint != optoken.Hint(secret) {
			t.Errorf("row %+v", tok)
		}
		var stored optoken.Token
		db.Conn(ctx).Where("id = ?", tok.ID).Take(&stored)
		if string(stored.TokenHash) != string(optoken.Hash(secret)) || strings.Join(stored.IPs, ",") != "10.0.0.0/8,192.0.2.7/32" ||
			stored.CreatedBy != "op@example.com" || stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(clock.Now().Add(24*time.Hour)) {
			t.Errorf("stored %+v", stored)
		}
		inside, outside := netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("203.0.113.5")

		got, err := s.Authenticate(ctx, secret, inside)
		if err != nil || got.ID != tok.ID || got.LastUsedAt == nil || got.LastUsedIP != "10.9.9.9" {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		// The last use is written at most once a minute.
		clock.Advance(30 * time.Second)
		s.Authenticate(ctx, secret, netip.MustParseAddr("192.0.2.7"))
		db.Conn(ctx).Where("id = ?", tok.ID).Take(&stored)
		if !stored.LastUsedAt.Equal(clock.Now().Add(-30*time.Second)) || stored.LastUsedIP != "10.9.9.9" {
			t.Errorf("written within the minute: %v %s", stored.LastUsedAt, stored.LastUsedIP)
		}
		clock.Advance(31 * time.Second)
		s.Authenticate(ctx, secret, netip.MustParseAddr("192.0.2.7"))
		db.Conn(ctx).Where("id = ?", tok.ID).Take(&stored)
		if !stored.LastUsedAt.Equal(clock.Now()) || stored.LastUsedIP != "192.0.2.7" {
			t.Errorf("not written after the minute: %v %s", stored.LastUsedAt, stored.LastUsedIP)
		}

		unknown, _ := optoken.Generate(nil, "kp")
		for name, c := range map[string]struct {
			token string
			ip    netip.Addr
		}{
			"malformed": {"kp_op_nope", inside},
			"unknown":   {unknown, inside},
			"outside":   {secret, outside},
		} {
			if _, err := s.Authenticate(ctx, c.token, c.ip); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("%s: %v", name, err)
			}
		}
		clock.Advance(24 * time.Hour)
		if _, err := s.Authenticate(ctx, secret, inside); !apperr.Is(err, apperr.Unauthorized) || !strings.Contains(apperr.MessageOf(err), "expired") {
			t.Errorf("expired: %v", err)
		}

		secret2, tok2, err := s.Create(ctx, optoken.Input{Name: "Forever"})
		if err != nil || tok2.ExpiresAt != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, secret2, outside); err != nil {
			t.Errorf("no allowlist: %v", err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 2 || list[0].ID != tok2.ID || list[1].Status(clock.Now()) != optoken.Expired {
			t.Errorf("list: %+v %v", list, err)
		}
		if _, err := s.Revoke(ctx, tok2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Revoke(ctx, tok2.ID); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("revoke twice: %v", err)
		}
		if _, err := s.Revoke(ctx, store.NewID()); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
		if _, err := s.Authenticate(ctx, secret2, outside); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("revoked: %v", err)
		}
	})
}
