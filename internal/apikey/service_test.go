package apikey

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// fixture is a key service over a database holding two organizations, each
// with its own admin.
type fixture struct {
	db    *store.DB
	clock *clocktest.Clock
	svc   *Service
	org   string // the organization under test
	other string // another organization
	actor audit.Actor
	// otherActor is the admin of other.
	otherActor audit.Actor

	mu      sync.Mutex
	changed [][]byte
}

func newFixture(t *testing.T, db *store.DB, maxKeys int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: db, clock: clocktest.New(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))}
	users := account.NewService(db, f.clock.Now, account.WithHashParams(account.TestHashParams))
	orgs := org.NewService(db, f.clock.Now)
	for i, dst := range []*string{&f.org, &f.other} {
		u, err := users.CreateUser(ctx, account.NewUser{
			Email: fmt.Sprintf("admin%d@example.com", i), Name: "Admin", Password: "correct horse battery",
		})
		if err != nil {
			t.Fatalf("create user: %v", err)
		}
		actor := audit.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1", UserAgent: "test"}
		o, err := orgs.Create(ctx, fmt.Sprintf("Org %d", i), fmt.Sprintf("org-%d", i), u.ID, actor)
		if err != nil {
			t.Fatalf("create org: %v", err)
		}
		*dst = o.ID
		if i == 0 {
			f.actor = actor
		} else {
			f.otherActor = actor
		}
	}
	f.svc = NewService(db, Options{
		Prefix: "kp", MaxKeys: maxKeys, Policy: testPolicy, Now: f.clock.Now,
		Changed: func(h []byte) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.changed = append(f.changed, bytes.Clone(h))
		},
	})
	return f
}

// takeChanged returns the hashes Options.Changed heard of since the last call.
func (f *fixture) takeChanged() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.changed
	f.changed = nil
	return out
}

func (f *fixture) assertChanged(t *testing.T, want ...[]byte) {
	t.Helper()
	got := f.takeChanged()
	if len(got) != len(want) {
		t.Fatalf("Changed called %d times, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("Changed call %d got hash %x, want %x", i, got[i], want[i])
		}
	}
}

// create makes a key in f.org with a fresh form token and fails the test on
// error.
func (f *fixture) create(t *testing.T, in Input) Created {
	t.Helper()
	c, err := f.svc.Create(context.Background(), f.org, store.NewID(), in, f.actor)
	if err != nil {
		t.Fatalf("Create(%q): %v (fields %v)", in.Description, err, apperr.FieldsOf(err))
	}
	return c
}

func (f *fixture) get(t *testing.T, id string) Key {
	t.Helper()
	k, err := f.svc.Get(context.Background(), f.org, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return k
}

func (f *fixture) countRows(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := f.db.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func (f *fixture) events(t *testing.T, orgID, action string) []audit.Event {
	t.Helper()
	all, err := audit.List(context.Background(), f.db.DB, orgID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// allText returns every column of every row of table as text.
func allText(t *testing.T, db *store.DB, table string) []string {
	t.Helper()
	rows, err := db.SQL().Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var s string
			switch v := v.(type) {
			case nil:
			case []byte:
				s = string(v)
			default:
				s = fmt.Sprint(v)
			}
			out = append(out, cols[i]+"="+s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func keyIDs(keys []Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func strPtrIs(p *string, want string) bool { return p != nil && *p == want }

// assertSameSettings fails when two keys' settings differ.
func assertSameSettings(t *testing.T, got, want Key) {
	t.Helper()
	if got.Description != want.Description || got.Kind != want.Kind || got.Environment != want.Environment ||
		strings.Join(got.Scopes, ",") != strings.Join(want.Scopes, ",") ||
		strings.Join(got.Domains, ",") != strings.Join(want.Domains, ",") ||
		strings.Join(got.IPs, ",") != strings.Join(want.IPs, ",") ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) ||
		!sameInt(got.RateLimitPerMinute, want.RateLimitPerMinute) || !sameInt(got.BlockMinutes, want.BlockMinutes) {
		t.Errorf("settings differ:\n got %+v\nwant %+v", got, want)
	}
}

// fullInput is a public key with every setting filled in.
func fullInput() Input {
	return Input{
		Description: "Checkout widget", Kind: "public", Environment: "live",
		Scopes: []string{"read", "sms:send"}, Domains: "example.com\n*.example.org",
		IPs: "10.1.2.3/8\n2001:db8::1", ExpiresAt: "2030-12-31", RateLimit: "30", BlockMinutes: "2",
	}
}

func TestCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c, err := f.svc.Create(ctx, f.org, "form-1", fullInput(), f.actor)
		if err != nil {
			t.Fatalf("Create: %v (%v)", err, apperr.FieldsOf(err))
		}

		p, err := Parse(c.Secret, "kp")
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.Secret, err)
		}
		if p.Kind != Public || p.Environment != Live || !strings.HasPrefix(c.Secret, "kp_pk_live_") {
			t.Errorf("secret %q parses as %+v, want public live", c.Secret, p)
		}

		k := f.get(t, c.Key.ID)
		if !bytes.Equal(k.KeyHash, Hash(c.Secret)) || !bytes.Equal(c.Key.KeyHash, Hash(c.Secret)) {
			t.Errorf("stored hash %x, want SHA-256 of the secret %x", k.KeyHash, Hash(c.Secret))
		}
		if k.Hint != Hint(c.Secret) || !strings.HasPrefix(k.Hint, "kp_pk_live_…") || !strings.HasSuffix(c.Secret, k.Hint[len(k.Hint)-4:]) {
			t.Errorf("stored hint %q, want %q", k.Hint, Hint(c.Secret))
		}
		if k.OrgID != f.org {
			t.Errorf("OrgID = %q, want %q", k.OrgID, f.org)
		}
		wantExpiry := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		assertSameSettings(t, k, Key{
			Description: "Checkout widget", Kind: Public, Environment: Live,
			Scopes: List{"read", "sms:send"}, Domains: List{"example.com", "*.example.org"},
			IPs: List{"10.0.0.0/8", "2001:db8::1/128"}, ExpiresAt: &wantExpiry,
			RateLimitPerMinute: intPtr(30), BlockMinutes: intPtr(2),
		})
		assertSameSettings(t, c.Key, k)
		if !strPtrIs(k.CreatedByID, f.actor.UserID) || k.CreatedByEmail != f.actor.Email {
			t.Errorf("created by %v %q, want %q %q", k.CreatedByID, k.CreatedByEmail, f.actor.UserID, f.actor.Email)
		}
		if !k.CreatedAt.Equal(f.clock.Now()) {
			t.Errorf("CreatedAt = %v, want the clock's %v", k.CreatedAt, f.clock.Now())
		}
		if k.RevokedAt != nil || k.ReplacesID != nil || k.ReplacedByID != nil || k.GraceUntil != nil || k.LastUsedAt != nil {
			t.Errorf("new key carries lifecycle fields: %+v", k)
		}
		if s := k.StatusAt(f.clock.Now()); s != Active {
			t.Errorf("status = %q, want active", s)
		}

		body := c.Secret[len("kp_pk_live_"):]
		for _, table := range []string{"api_keys", "audit_events"} {
			for _, v := range allText(t, db, table) {
				if strings.Contains(v, c.Secret) || strings.Contains(v, body) || strings.Contains(v, body[:RandomLen]) {
					t.Errorf("%s holds the secret: %s", table, v)
				}
			}
		}

		evs := f.events(t, f.org, audit.KeyCreated)
		if len(evs) != 1 {
			t.Fatalf("%d key.created events, want 1", len(evs))
		}
		e := evs[0]
		if e.TargetType != "api_key" || e.TargetID != k.ID || !strPtrIs(e.ActorID, f.actor.UserID) || e.ActorEmail != f.actor.Email {
			t.Errorf("event = %+v", e)
		}
		if !strings.Contains(e.Summary, k.Hint) || !strings.Contains(e.Summary, "Checkout widget") {
			t.Errorf("event summary %q does not name hint %q and description", e.Summary, k.Hint)
		}
		if len(f.events(t, f.other, audit.KeyCreated)) != 0 {
			t.Error("key.created recorded in the other organization")
		}

		// A second key gets a different secret.
		c2 := f.create(t, privateInput())
		if c2.Secret == c.Secret || bytes.Equal(c2.Key.KeyHash, c.Key.KeyHash) || c2.Key.ID == c.Key.ID {
			t.Error("second key repeats the first")
		}
		if !strings.HasPrefix(c2.Secret, "kp_sk_live_") {
			t.Errorf("private key secret %q", c2.Secret)
		}
	})
}

func TestCreateFormTokenIsSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		first, err := f.svc.Create(ctx, f.org, "form-token", privateInput(), f.actor)
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.svc.Create(ctx, f.org, "form-token", privateInput(), f.actor)
		if !IsAlreadyCreated(err) || !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("second Create error = %v, want ErrAlreadyCreated", err)
		}
		if second.Secret != "" || second.Key.ID != "" {
			t.Errorf("second Create returned %+v", second)
		}
		if !strings.Contains(apperr.MessageOf(err), "shown only once") {
			t.Errorf("message %q", apperr.MessageOf(err))
		}
		keys, err := f.svc.List(ctx, f.org, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].ID != first.Key.ID || f.countRows(t, "api_keys") != 1 {
			t.Errorf("keys after a re-post = %v, want only %s", keyIDs(keys), first.Key.ID)
		}
		if n := len(f.events(t, f.org, audit.KeyCreated)); n != 1 {
			t.Errorf("%d key.created events, want 1", n)
		}
		// The token is single-use per organization, not across them.
		if _, err := f.svc.Create(ctx, f.other, "form-token", privateInput(), f.otherActor); err != nil {
			t.Errorf("same token in another organization: %v", err)
		}
		// An empty token never collides.
		for range 2 {
			if _, err := f.svc.Create(ctx, f.org, "", privateInput(), f.actor); err != nil {
				t.Errorf("Create without a token: %v", err)
			}
		}
	})
}

func TestCreateInvalidStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		before := f.countRows(t, "audit_events")
		_, err := f.svc.Create(ctx, f.org, "form-1", Input{Description: "Widget", Kind: "public", Environment: "live", IPs: "nope"}, f.actor)
		if !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("Create error = %v, want Invalid", err)
		}
		fields := apperr.FieldsOf(err)
		if fields["domains"] == "" || fields["ips"] == "" {
			t.Errorf("fields = %v, want domains and ips", fields)
		}
		if n := f.countRows(t, "api_keys"); n != 0 {
			t.Errorf("%d keys stored", n)
		}
		if n := f.countRows(t, "audit_events"); n != before {
			t.Errorf("audit events went from %d to %d", before, n)
		}
		// The form token was not burnt by the failed attempt.
		if _, err := f.svc.Create(ctx, f.org, "form-1", publicInput(), f.actor); err != nil {
			t.Errorf("Create after fixing the form: %v", err)
		}
		// An unknown organization is NotFound, not a foreign-key error.
		if _, err := f.svc.Create(ctx, store.NewID(), "", privateInput(), f.actor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Create in an unknown org: %v, want NotFound", err)
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		mk := func(in Input) Key {
			f.clock.Advance(time.Minute)
			return f.create(t, in).Key
		}
		withDesc := func(in Input, d string) Input { in.Description = d; return in }
		test := func(in Input) Input { in.Environment = "test"; return in }

		billing := mk(withDesc(privateInput(), "Billing SERVER"))
		checkout := mk(withDesc(publicInput(), "Checkout page")) // public, test
		oldBilling := mk(test(withDesc(privateInput(), "old billing job")))
		percent := mk(withDesc(privateInput(), "50% discount_job"))
		decoy := mk(withDesc(privateInput(), "500 discount jobs"))
		soon := mk(withDesc(privateInput(func(in *Input) { in.ExpiresAt = "2030-06-18" }), "Expiring soon"))
		rotated := mk(test(withDesc(privateInput(), "Rotated in grace")))
		gone := mk(withDesc(privateInput(), "Rotated now"))
		zurich := mk(test(withDesc(publicInput(), "Zürich Ärzte portal")))
		if _, err := f.svc.Revoke(ctx, f.org, oldBilling.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		r1, _, err := f.svc.Rotate(ctx, f.org, rotated.ID, "1h", "", f.actor)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		r2, _, err := f.svc.Rotate(ctx, f.org, gone.ID, "0", "", f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, f.other, "", withDesc(privateInput(), "Billing server of another org"), f.otherActor); err != nil {
			t.Fatal(err)
		}

		ids := func(keys ...Key) string {
			out := make([]string, len(keys))
			for i, k := range keys {
				out[i] = k.Description
			}
			return strings.Join(out, " | ")
		}
		tests := []struct {
			name   string
			filter Filter
			want   []Key
		}{
			{"all, newest first", Filter{}, []Key{r2.Key, r1.Key, zurich, gone, rotated, soon, decoy, percent, oldBilling, checkout, billing}},
			{"active", Filter{Status: Active}, []Key{r2.Key, r1.Key, zurich, decoy, percent, checkout, billing}},
			{"expiring", Filter{Status: Expiring}, []Key{rotated, soon}},
			{"expired", Filter{Status: Expired}, []Key{gone}},
			{"revoked", Filter{Status: Revoked}, []Key{oldBilling}},
			{"test environment", Filter{Environment: Test}, []Key{r1.Key, zurich, rotated, oldBilling, checkout}},
			{"live environment", Filter{Environment: Live}, []Key{r2.Key, gone, soon, decoy, percent, billing}},
			{"public", Filter{Kind: Public}, []Key{zurich, checkout}},
			{"private test", Filter{Kind: Private, Environment: Test}, []Key{r1.Key, rotated, oldBilling}},
			{"search any case", Filter{Search: "  BiLLinG "}, []Key{oldBilling, billing}},
			{"search with status", Filter{Search: "billing", Status: Active}, []Key{billing}},
			{"search % literally", Filter{Search: "50%"}, []Key{percent}},
			{"search % alone", Filter{Search: "%"}, []Key{percent}},
			{"search _ literally", Filter{Search: "t_j"}, []Key{percent}},
			{"search backslash", Filter{Search: `\`}, nil},
			{"search quote", Filter{Search: `'`}, nil},
			{"search non-ASCII any case", Filter{Search: "ZÜRICH ärzte"}, []Key{zurich}},
			{"search nothing found", Filter{Search: "another org"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.svc.List(ctx, f.org, tt.filter)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if strings.Join(keyIDs(got), ",") != strings.Join(keyIDs(tt.want), ",") {
					t.Errorf("List(%+v) =\n  %s\nwant\n  %s", tt.filter, ids(got...), ids(tt.want...))
				}
				for _, k := range got {
					if k.OrgID != f.org {
						t.Errorf("listed key %s of org %s", k.ID, k.OrgID)
					}
				}
			})
		}

		others, err := f.svc.List(ctx, f.other, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(others) != 1 || others[0].Description != "Billing server of another org" {
			t.Errorf("other org lists %s", ids(others...))
		}
		// Statuses follow the clock: two hours on, the grace period is over.
		f.clock.Advance(2 * time.Hour)
		expired, err := f.svc.List(ctx, f.org, Filter{Status: Expired})
		if err != nil {
			t.Fatal(err)
		}
		if ids(expired...) != ids(gone, rotated) {
			t.Errorf("expired after the grace = %s", ids(expired...))
		}
	})
}

func TestOtherOrganizationsKeysAreNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		theirs, err := f.svc.Create(ctx, f.other, "", privateInput(), f.otherActor)
		if err != nil {
			t.Fatal(err)
		}
		id := theirs.Key.ID
		f.takeChanged()
		for _, bad := range []string{id, store.NewID(), "not-a-uuid", ""} {
			if _, err := f.svc.Get(ctx, f.org, bad); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Get(%q) error = %v, want NotFound", bad, err)
			}
			if _, err := f.svc.Update(ctx, f.org, bad, privateInput(func(in *Input) { in.Description = "Hijacked" }), f.actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Update(%q) error = %v, want NotFound", bad, err)
			}
			if _, err := f.svc.Revoke(ctx, f.org, bad, f.actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Revoke(%q) error = %v, want NotFound", bad, err)
			}
			if _, _, err := f.svc.Rotate(ctx, f.org, bad, "1h", "", f.actor); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("Rotate(%q) error = %v, want NotFound", bad, err)
			}
		}
		k, err := f.svc.Get(ctx, f.other, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Description != "Billing server" || k.RevokedAt != nil || k.ReplacedByID != nil {
			t.Errorf("the other org's key changed: %+v", k)
		}
		if n := f.countRows(t, "api_keys"); n != 1 {
			t.Errorf("%d keys, want 1", n)
		}
		if len(f.events(t, f.org, audit.KeyUpdated))+len(f.events(t, f.org, audit.KeyRevoked))+len(f.events(t, f.org, audit.KeyRotated)) != 0 {
			t.Error("audit events recorded for refused changes")
		}
		f.assertChanged(t)
	})
}

func TestUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c := f.create(t, privateInput(func(in *Input) { in.Scopes = []string{"read"}; in.RateLimit = "10" }))
		f.takeChanged()
		f.clock.Advance(time.Hour)

		in := Input{
			Description: "  Billing server v2 ", Kind: "public", Environment: "test",
			Scopes: []string{"write", "sms:send"}, Domains: "Example.com", IPs: "192.168.0.7/24",
			ExpiresAt: "2031-01-31", RateLimit: "", BlockMinutes: "15",
		}
		got, err := f.svc.Update(ctx, f.org, c.Key.ID, in, f.actor)
		if err != nil {
			t.Fatalf("Update: %v (%v)", err, apperr.FieldsOf(err))
		}
		expiry := time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC)
		want := Key{
			Description: "Billing server v2", Kind: Private, Environment: Live,
			Scopes: List{"write", "sms:send"}, Domains: List{"example.com"}, IPs: List{"192.168.0.0/24"},
			ExpiresAt: &expiry, RateLimitPerMinute: nil, BlockMinutes: intPtr(15),
		}
		assertSameSettings(t, got, want)
		stored := f.get(t, c.Key.ID)
		assertSameSettings(t, stored, want)
		if !stored.UpdatedAt.Equal(f.clock.Now()) || !stored.CreatedAt.Equal(c.Key.CreatedAt) {
			t.Errorf("CreatedAt, UpdatedAt = %v, %v", stored.CreatedAt, stored.UpdatedAt)
		}
		if !bytes.Equal(stored.KeyHash, c.Key.KeyHash) || stored.Hint != c.Key.Hint {
			t.Error("Update changed the key itself")
		}
		f.assertChanged(t, c.Key.KeyHash)
		evs := f.events(t, f.org, audit.KeyUpdated)
		if len(evs) != 1 || evs[0].TargetID != c.Key.ID || !strings.Contains(evs[0].Summary, c.Key.Hint) {
			t.Errorf("key.updated events = %+v", evs)
		}

		// Invalid input changes nothing and tells nobody.
		_, err = f.svc.Update(ctx, f.org, c.Key.ID, Input{Description: "", Scopes: []string{"root"}}, f.actor)
		if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["description"] == "" || apperr.FieldsOf(err)["scopes"] == "" {
			t.Errorf("invalid Update error = %v (%v)", err, apperr.FieldsOf(err))
		}
		if _, ok := apperr.FieldsOf(err)["kind"]; ok {
			t.Error("Update validated the kind the caller cannot change")
		}
		assertSameSettings(t, f.get(t, c.Key.ID), want)
		f.assertChanged(t)

		// A public key keeps its domains requirement under Update.
		pub := f.create(t, publicInput())
		f.takeChanged()
		_, err = f.svc.Update(ctx, f.org, pub.Key.ID, privateInput(func(in *Input) { in.Domains = "" }), f.actor)
		if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["domains"] == "" {
			t.Errorf("Update of a public key without domains = %v (%v)", err, apperr.FieldsOf(err))
		}

		// Revoked keys are frozen.
		if _, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		_, err = f.svc.Update(ctx, f.org, c.Key.ID, privateInput(), f.actor)
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("Update of a revoked key = %v, want Conflict", err)
		}
		assertSameSettings(t, f.get(t, c.Key.ID), want)

		// So are rotated and expired ones.
		rot := f.create(t, privateInput())
		if _, _, err := f.svc.Rotate(ctx, f.org, rot.Key.ID, "24h", "", f.actor); err != nil {
			t.Fatal(err)
		}
		exp := f.create(t, privateInput(func(in *Input) { in.ExpiresAt = "2030-06-15" }))
		f.clock.Advance(24 * time.Hour)
		f.takeChanged()
		for _, id := range []string{rot.Key.ID, exp.Key.ID} {
			if _, err := f.svc.Update(ctx, f.org, id, privateInput(func(in *Input) { in.Description = "Changed" }), f.actor); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("Update of %s = %v, want Conflict", f.get(t, id).StatusAt(f.clock.Now()), err)
			}
			if f.get(t, id).Description == "Changed" {
				t.Error("a frozen key was edited")
			}
		}
		f.assertChanged(t)
	})
}

func TestRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		c := f.create(t, privateInput())
		f.takeChanged()
		f.clock.Advance(time.Minute)

		got, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor)
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if got.StatusAt(f.clock.Now()) != Revoked {
			t.Errorf("returned key status %q", got.StatusAt(f.clock.Now()))
		}
		k := f.get(t, c.Key.ID)
		if k.RevokedAt == nil || !k.RevokedAt.Equal(f.clock.Now()) || !strPtrIs(k.RevokedByID, f.actor.UserID) {
			t.Errorf("RevokedAt, RevokedByID = %v, %v", k.RevokedAt, k.RevokedByID)
		}
		if k.StatusAt(f.clock.Now()) != Revoked {
			t.Errorf("stored status %q, want revoked", k.StatusAt(f.clock.Now()))
		}
		f.assertChanged(t, c.Key.KeyHash)
		evs := f.events(t, f.org, audit.KeyRevoked)
		if len(evs) != 1 || evs[0].TargetID != c.Key.ID || !strings.Contains(evs[0].Summary, k.Hint) || !strings.Contains(evs[0].Summary, k.Description) {
			t.Errorf("key.revoked events = %+v", evs)
		}

		f.clock.Advance(time.Minute)
		if _, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("second Revoke = %v, want Conflict", err)
		}
		if k2 := f.get(t, c.Key.ID); !k2.RevokedAt.Equal(*k.RevokedAt) {
			t.Errorf("second Revoke moved RevokedAt to %v", k2.RevokedAt)
		}
		f.assertChanged(t)
		if n := len(f.events(t, f.org, audit.KeyRevoked)); n != 1 {
			t.Errorf("%d key.revoked events, want 1", n)
		}

		// A key in its rotation grace period can be cut short by revoking it.
		old := f.create(t, privateInput())
		if _, _, err := f.svc.Rotate(ctx, f.org, old.Key.ID, "24h", "", f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		if _, err := f.svc.Revoke(ctx, f.org, old.Key.ID, f.actor); err != nil {
			t.Errorf("Revoke during grace: %v", err)
		}
		if s := f.get(t, old.Key.ID).StatusAt(f.clock.Now()); s != Revoked {
			t.Errorf("status after revoking during grace = %q", s)
		}
		f.assertChanged(t, old.Key.KeyHash)
	})
}

func TestRotate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		old := f.create(t, fullInput())
		f.takeChanged()
		f.clock.Advance(time.Minute)
		rotatedAt := f.clock.Now()

		created, oldAfter, err := f.svc.Rotate(ctx, f.org, old.Key.ID, "1h", "rotate-form", f.actor)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		nk := created.Key
		if _, err := Parse(created.Secret, "kp"); err != nil || !bytes.Equal(nk.KeyHash, Hash(created.Secret)) || nk.Hint != Hint(created.Secret) {
			t.Errorf("new secret %q: parse %v, hash or hint mismatch", created.Secret, err)
		}
		if created.Secret == old.Secret || nk.ID == old.Key.ID {
			t.Error("rotation reused the old key")
		}
		stored := f.get(t, nk.ID)
		assertSameSettings(t, stored, old.Key)
		assertSameSettings(t, nk, old.Key)
		if !strPtrIs(stored.ReplacesID, old.Key.ID) || stored.ReplacedByID != nil || stored.GraceUntil != nil {
			t.Errorf("new key ReplacesID %v, ReplacedByID %v, GraceUntil %v", stored.ReplacesID, stored.ReplacedByID, stored.GraceUntil)
		}
		if !stored.CreatedAt.Equal(rotatedAt) || !bytes.Equal(stored.KeyHash, Hash(created.Secret)) {
			t.Errorf("new key CreatedAt %v or hash wrong", stored.CreatedAt)
		}
		if s := stored.StatusAt(rotatedAt); s != Active {
			t.Errorf("new key status = %q, want active", s)
		}

		o := f.get(t, old.Key.ID)
		deadline := rotatedAt.Add(time.Hour)
		if !strPtrIs(o.ReplacedByID, nk.ID) || o.GraceUntil == nil || !o.GraceUntil.Equal(deadline) {
			t.Errorf("old key ReplacedByID %v, GraceUntil %v; want %s, %v", o.ReplacedByID, o.GraceUntil, nk.ID, deadline)
		}
		if !strPtrIs(oldAfter.ReplacedByID, nk.ID) || oldAfter.GraceUntil == nil || !oldAfter.GraceUntil.Equal(deadline) {
			t.Errorf("returned old key %+v", oldAfter)
		}
		assertSameSettings(t, o, old.Key)
		if s := o.StatusAt(f.clock.Now()); s != Expiring {
			t.Errorf("old key status in grace = %q, want expiring", s)
		}
		if !o.InGrace(f.clock.Now()) {
			t.Error("old key not in grace")
		}
		f.assertChanged(t, nk.KeyHash, old.Key.KeyHash)
		evs := f.events(t, f.org, audit.KeyRotated)
		if len(evs) != 1 || evs[0].TargetID != old.Key.ID || !strings.Contains(evs[0].Summary, old.Key.Hint) || !strings.Contains(evs[0].Summary, nk.Hint) {
			t.Errorf("key.rotated events = %+v", evs)
		}
		for _, table := range []string{"api_keys", "audit_events"} {
			for _, v := range allText(t, db, table) {
				if strings.Contains(v, created.Secret[len("kp_pk_live_"):]) {
					t.Errorf("%s holds the new secret: %s", table, v)
				}
			}
		}

		f.clock.Advance(59 * time.Minute)
		if s := f.get(t, old.Key.ID).StatusAt(f.clock.Now()); s != Expiring {
			t.Errorf("old key status a minute before the deadline = %q, want expiring", s)
		}
		f.clock.Advance(time.Minute + time.Second)
		if s := f.get(t, old.Key.ID).StatusAt(f.clock.Now()); s != Expired {
			t.Errorf("old key status past the deadline = %q, want expired", s)
		}
		if s := f.get(t, nk.ID).StatusAt(f.clock.Now()); s != Active {
			t.Errorf("new key status = %q, want active", s)
		}

		// The form token is single-use for rotations too.
		next := f.create(t, privateInput())
		f.takeChanged()
		if _, _, err := f.svc.Rotate(ctx, f.org, next.Key.ID, "1h", "rotate-form", f.actor); !IsAlreadyCreated(err) {
			t.Errorf("Rotate with a used form token = %v, want ErrAlreadyCreated", err)
		}
		if k := f.get(t, next.Key.ID); k.ReplacedByID != nil {
			t.Error("a refused rotation replaced the key")
		}

		// A rotated key cannot be rotated again, during or after its grace.
		for _, grace := range []string{"1h", "0"} {
			if _, _, err := f.svc.Rotate(ctx, f.org, old.Key.ID, grace, "", f.actor); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("rotating a rotated key (grace %s) = %v, want Conflict", grace, err)
			}
		}
		inGrace := f.create(t, privateInput())
		if _, _, err := f.svc.Rotate(ctx, f.org, inGrace.Key.ID, "168h", "", f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		if _, _, err := f.svc.Rotate(ctx, f.org, inGrace.Key.ID, "1h", "", f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("rotating a key in its grace period = %v, want Conflict", err)
		}
		f.assertChanged(t)

		// A revoked key cannot be rotated.
		rev := f.create(t, privateInput())
		if _, err := f.svc.Revoke(ctx, f.org, rev.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.takeChanged()
		if _, _, err := f.svc.Rotate(ctx, f.org, rev.Key.ID, "1h", "", f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("rotating a revoked key = %v, want Conflict", err)
		}
		f.assertChanged(t)
	})
}

func TestRotateGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()

		now := f.create(t, privateInput())
		if _, _, err := f.svc.Rotate(ctx, f.org, now.Key.ID, "0", "", f.actor); err != nil {
			t.Fatalf("Rotate grace 0: %v", err)
		}
		o := f.get(t, now.Key.ID)
		if o.GraceUntil == nil || !o.GraceUntil.Equal(f.clock.Now()) {
			t.Errorf("GraceUntil = %v, want now", o.GraceUntil)
		}
		if s := o.StatusAt(f.clock.Now()); s != Expired {
			t.Errorf("status after grace 0 = %q, want expired at once", s)
		}

		for grace, d := range map[string]time.Duration{"24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour} {
			k := f.create(t, privateInput())
			if _, _, err := f.svc.Rotate(ctx, f.org, k.Key.ID, grace, "", f.actor); err != nil {
				t.Fatalf("Rotate grace %s: %v", grace, err)
			}
			if g := f.get(t, k.Key.ID).GraceUntil; g == nil || !g.Equal(f.clock.Now().Add(d)) {
				t.Errorf("grace %s: GraceUntil = %v", grace, g)
			}
		}

		k := f.create(t, privateInput())
		f.takeChanged()
		before := f.countRows(t, "api_keys")
		for _, bad := range []string{"", "2h", "1H", "-1h", "1h ", "7d"} {
			_, _, err := f.svc.Rotate(ctx, f.org, k.Key.ID, bad, "", f.actor)
			if !apperr.Is(err, apperr.Invalid) || apperr.FieldsOf(err)["grace"] == "" {
				t.Errorf("Rotate grace %q = %v, want Invalid on grace", bad, err)
			}
		}
		if n := f.countRows(t, "api_keys"); n != before {
			t.Errorf("bad graces stored %d keys", n-before)
		}
		if f.get(t, k.Key.ID).ReplacedByID != nil {
			t.Error("bad grace replaced the key")
		}
		f.assertChanged(t)
	})
}

// TestCreateIsAnnounced: a new key is announced like a change (to this
// server's hook and in key_changes for the others), so every server's set
// of key hashes knows it before it is presented.
func TestCreateIsAnnounced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		f.takeChanged()
		c := f.create(t, privateInput())
		f.assertChanged(t, c.Key.KeyHash)
		var n int64
		if err := db.Model(&KeyChange{}).Where("key_hash = ?", c.Key.KeyHash).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("key_changes rows for the new key = %d, want 1", n)
		}
	})
}

func TestChangedHearsOfEveryKeyWhoseVerificationChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		a, b, c := f.create(t, privateInput()), f.create(t, privateInput()), f.create(t, privateInput())
		f.takeChanged()
		if _, err := f.svc.Update(ctx, f.org, a.Key.ID, privateInput(func(in *Input) { in.IPs = "10.0.0.1" }), f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, f.org, b.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		nk, _, err := f.svc.Rotate(ctx, f.org, c.Key.ID, "1h", "", f.actor)
		if err != nil {
			t.Fatal(err)
		}
		f.assertChanged(t, a.Key.KeyHash, b.Key.KeyHash, nk.Key.KeyHash, c.Key.KeyHash)
		for _, h := range [][]byte{a.Key.KeyHash, b.Key.KeyHash, c.Key.KeyHash} {
			if bytes.Equal(h, nk.Key.KeyHash) {
				t.Error("hashes collide")
			}
		}
	})
}

func TestLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 3)
		ctx := context.Background()
		var keys []Created
		for range 3 {
			keys = append(keys, f.create(t, privateInput()))
		}
		assertCount := func(want int) {
			t.Helper()
			n, err := f.svc.CountActive(ctx, f.org)
			if err != nil || n != want {
				t.Errorf("CountActive = %d, %v; want %d", n, err, want)
			}
		}
		assertCount(3)
		rows, events := f.countRows(t, "api_keys"), len(f.events(t, f.org, audit.KeyCreated))

		_, err := f.svc.Create(ctx, f.org, "fourth", privateInput(), f.actor)
		if !apperr.Is(err, apperr.Limit) {
			t.Fatalf("fourth Create = %v, want Limit", err)
		}
		if msg := apperr.MessageOf(err); !strings.Contains(msg, "limit") || !strings.Contains(msg, "3") {
			t.Errorf("limit message %q does not name the limit", msg)
		}
		if f.countRows(t, "api_keys") != rows || len(f.events(t, f.org, audit.KeyCreated)) != events {
			t.Error("a refused create stored something")
		}
		// The limit is per organization.
		if _, err := f.svc.Create(ctx, f.other, "", privateInput(), f.otherActor); err != nil {
			t.Errorf("Create in another org at this org's limit: %v", err)
		}

		// Revoked keys do not count.
		if _, err := f.svc.Revoke(ctx, f.org, keys[0].Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		assertCount(2)
		keys = append(keys, f.create(t, privateInput()))
		assertCount(3)

		// Rotation works at the limit: the old key, in its grace period, no
		// longer counts.
		if _, _, err := f.svc.Rotate(ctx, f.org, keys[1].Key.ID, "24h", "", f.actor); err != nil {
			t.Fatalf("Rotate at the limit: %v", err)
		}
		assertCount(3)
		if _, _, err := f.svc.Rotate(ctx, f.org, keys[2].Key.ID, "0", "", f.actor); err != nil {
			t.Fatalf("Rotate at the limit with grace 0: %v", err)
		}
		assertCount(3)
		if _, err := f.svc.Create(ctx, f.org, "", privateInput(), f.actor); !apperr.Is(err, apperr.Limit) {
			t.Errorf("Create after the rotations = %v, want Limit", err)
		}

		// Expired keys do not count either.
		var expiring Created
		if _, err := f.svc.Revoke(ctx, f.org, keys[3].Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		expiring = f.create(t, privateInput(func(in *Input) { in.ExpiresAt = "2030-06-15" }))
		assertCount(3)
		f.clock.Advance(24 * time.Hour)
		assertCount(2)
		f.create(t, privateInput())
		assertCount(3)
		if s := f.get(t, expiring.Key.ID).StatusAt(f.clock.Now()); s != Expired {
			t.Errorf("status = %q", s)
		}
	})
}

func TestLimitHoldsUnderConcurrency(t *testing.T) {
	db := storetest.Postgres(t)
	f := newFixture(t, db, 5)
	ctx := context.Background()
	const n = 20
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, n)
		secrets = make([]string, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := f.svc.Create(ctx, f.org, fmt.Sprintf("form-%d", i), privateInput(), f.actor)
			errs[i], secrets[i] = err, c.Secret
		}()
	}
	close(start)
	wg.Wait()
	ok, limited := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if secrets[i] == "" {
				t.Errorf("goroutine %d succeeded without a secret", i)
			}
		case apperr.Is(err, apperr.Limit):
			limited++
		default:
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if ok != 5 || limited != n-5 {
		t.Errorf("%d created and %d refused, want 5 and %d", ok, limited, n-5)
	}
	if c, err := f.svc.CountActive(ctx, f.org); err != nil || c != 5 {
		t.Errorf("CountActive = %d, %v; want 5", c, err)
	}
	if rows := f.countRows(t, "api_keys"); rows != 5 {
		t.Errorf("%d rows, want 5", rows)
	}
	if e := len(f.events(t, f.org, audit.KeyCreated)); e != 5 {
		t.Errorf("%d key.created events, want 5", e)
	}
}
