package apikey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestSetReportOnly: switching one restriction writes its flag alone,
// reaches every server (a change notice, this server's cache at commit),
// queues key.updated and is audited in words; switching to the mode it
// has already changes and records nothing.
func TestSetReportOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()
		deliveries := f.hooked(t)
		c := f.create(t, privateInput(func(in *Input) {
			in.IPs, in.Scopes, in.RateLimit, in.ReportOnly = "203.0.113.0/24", []string{"read"}, "60", []string{"rate_limit"}
		}))
		f.takeChanged()
		changes := f.countRows(t, "key_changes")

		k, err := f.svc.SetReportOnly(ctx, f.org, c.Key.ID, RestrictIPs, true, f.actor)
		if err != nil {
			t.Fatal(err)
		}
		want := ReportOnly{IPs: true, RateLimit: true}
		if k.ReportOnly() != want || f.get(t, c.Key.ID).ReportOnly() != want {
			t.Fatalf("after switching ips: answered %+v, stored %+v, want %+v", k.ReportOnly(), f.get(t, c.Key.ID).ReportOnly(), want)
		}
		if !sameTime(&k.UpdatedAt, ptr(f.clock.Now().UTC())) {
			t.Errorf("updated_at %v", k.UpdatedAt)
		}
		f.assertChanged(t, c.Key.KeyHash)
		if n := f.countRows(t, "key_changes"); n != changes+1 {
			t.Errorf("key_changes %d, want %d", n, changes+1)
		}
		evs := f.events(t, f.org, audit.KeyRestrictionReportOnly)
		wantSummary := "admin0@example.com switched the IP allowlist of " + c.Key.Hint + " (Billing server) to report only"
		if len(evs) != 1 || evs[0].Summary != wantSummary || evs[0].TargetID != c.Key.ID {
			t.Errorf("audit %+v, want one saying %q", evs, wantSummary)
		}
		updated := func() int {
			n := 0
			for _, d := range deliveries() {
				if d.EventType == "key.updated" {
					n++
				}
			}
			return n
		}
		if n := updated(); n != 1 {
			t.Errorf("%d key.updated deliveries, want 1", n)
		}

		// Again: nothing changes, nothing is recorded.
		if k, err = f.svc.SetReportOnly(ctx, f.org, c.Key.ID, RestrictIPs, true, f.actor); err != nil || k.ReportOnly() != want {
			t.Fatalf("switching again: %+v, %v", k.ReportOnly(), err)
		}
		f.assertChanged(t)
		if n := f.countRows(t, "key_changes"); n != changes+1 {
			t.Errorf("a switch to the same mode noted a change")
		}
		if len(f.events(t, f.org, audit.KeyRestrictionReportOnly)) != 1 || updated() != 1 {
			t.Error("a switch to the same mode was recorded")
		}

		// Back to enforce, each restriction with its own words.
		for _, tc := range []struct {
			r    Restriction
			text string
		}{
			{RestrictIPs, "the IP allowlist"}, {RestrictRateLimit, "the rate limit"},
		} {
			if _, err := f.svc.SetReportOnly(ctx, f.org, c.Key.ID, tc.r, false, f.actor); err != nil {
				t.Fatal(err)
			}
			evs := f.events(t, f.org, audit.KeyRestrictionEnforced)
			if len(evs) == 0 || !strings.Contains(evs[0].Summary, "switched "+tc.text+" of "+c.Key.Hint+" (Billing server) to enforce") {
				t.Errorf("enforce %s: audit %+v", tc.r, evs)
			}
		}
		if got := f.get(t, c.Key.ID).ReportOnly(); got.Any() {
			t.Errorf("after enforcing both: %+v", got)
		}
		// The other settings are untouched.
		got := f.get(t, c.Key.ID)
		if strings.Join(got.IPs, ",") != "203.0.113.0/24" || strings.Join(got.Scopes, ",") != "read" || *got.RateLimitPerMinute != 60 {
			t.Errorf("settings changed: %+v", got)
		}

		// Refusals.
		if _, err := f.svc.SetReportOnly(ctx, f.org, c.Key.ID, Restriction("ip"), true, f.actor); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("unknown restriction: %v", err)
		}
		if _, err := f.svc.SetReportOnly(ctx, f.other, c.Key.ID, RestrictIPs, true, f.otherActor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another organization's key: %v", err)
		}
		if _, err := f.svc.SetReportOnly(ctx, f.org, "not-an-id", RestrictIPs, true, f.actor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("a malformed id: %v", err)
		}
		expiring := f.create(t, privateInput(func(in *Input) { in.ExpiresIn = time.Hour }))
		rotated := f.create(t, privateInput())
		f.rotate(t, rotated.Key.ID, "24h")
		revoked := f.create(t, privateInput())
		if _, err := f.svc.Revoke(ctx, f.org, revoked.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(2 * time.Hour)
		for name, id := range map[string]string{"expired": expiring.Key.ID, "replaced": rotated.Key.ID, "revoked": revoked.Key.ID} {
			for _, on := range []bool{true, false} {
				if _, err := f.svc.SetReportOnly(ctx, f.org, id, RestrictScopes, on, f.actor); !apperr.Is(err, apperr.Conflict) {
					t.Errorf("%s key, on=%v: %v, want Conflict", name, on, err)
				}
			}
			if f.get(t, id).ReportScopes {
				t.Errorf("the %s key was switched", name)
			}
		}
	})
}

// TestSetReportOnlyConcurrent: two servers switching two restrictions of
// one key at the same moment, each in its own transaction, both get their
// way; two switching the same one both succeed, and it is recorded once.
// The second transaction reads the key before the first commits and
// writes after it does.
func TestSetReportOnlyConcurrent(t *testing.T) {
	db := storetest.Postgres(t)
	f := newFixture(t, db, 100)
	ctx := context.Background()

	race := func(t *testing.T, id string, first, second Restriction) (error, error) {
		t.Helper()
		firstDone, release := make(chan int, 1), make(chan struct{})
		var errFirst error
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			errFirst = db.WithTx(ctx, func(ctx context.Context) error {
				var pid int
				if err := db.Conn(ctx).Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
					return err
				}
				if _, err := f.svc.SetReportOnly(ctx, f.org, id, first, true, f.actor); err != nil {
					return err
				}
				firstDone <- pid
				<-release
				return nil
			})
		}()
		pid := <-firstDone
		secondErr := make(chan error, 1)
		go func() {
			_, err := f.svc.SetReportOnly(ctx, f.org, id, second, true, audit.Actor{Email: "second@example.com"})
			secondErr <- err
		}()
		// The second waits on the first's row lock: then the first commits.
		for {
			var waiting int
			if err := db.Raw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", pid).Scan(&waiting).Error; err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-secondErr:
				close(release)
				<-finished
				t.Fatalf("the second switch ended (%v) without waiting for the first", err)
			default:
			}
			time.Sleep(time.Millisecond)
		}
		close(release)
		<-finished
		return errFirst, <-secondErr
	}

	t.Run("two restrictions", func(t *testing.T) {
		c := f.create(t, privateInput(func(in *Input) { in.IPs = "203.0.113.7" }))
		e1, e2 := race(t, c.Key.ID, RestrictIPs, RestrictScopes)
		if e1 != nil || e2 != nil {
			t.Fatalf("switches: %v, %v", e1, e2)
		}
		if got := f.get(t, c.Key.ID).ReportOnly(); got != (ReportOnly{IPs: true, Scopes: true}) {
			t.Errorf("stored %+v: one switch undid the other", got)
		}
		if n := len(f.keyEvents(t, c.Key.ID, audit.KeyRestrictionReportOnly)); n != 2 {
			t.Errorf("%d report-only events, want 2", n)
		}
	})
	t.Run("one restriction", func(t *testing.T) {
		c := f.create(t, privateInput(func(in *Input) { in.IPs = "203.0.113.7" }))
		e1, e2 := race(t, c.Key.ID, RestrictIPs, RestrictIPs)
		if e1 != nil || e2 != nil {
			t.Fatalf("switches: %v, %v", e1, e2)
		}
		if got := f.get(t, c.Key.ID).ReportOnly(); got != (ReportOnly{IPs: true}) {
			t.Errorf("stored %+v", got)
		}
		if n := len(f.keyEvents(t, c.Key.ID, audit.KeyRestrictionReportOnly)); n != 1 {
			t.Errorf("%d report-only events, want 1", n)
		}
	})
}

// keyEvents are f.org's audit events of action about key id.
func (f *fixture) keyEvents(t *testing.T, id, action string) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, e := range f.events(t, f.org, action) {
		if e.TargetID == id {
			out = append(out, e)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// TestRestrict: a key is set to what its traffic used, those restrictions
// alone in report-only mode, in one audited change; what was not observed
// is left as it was.
func TestRestrict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, 100)
		ctx := context.Background()

		// A private key holding admin and keys:manage, with no IP allowlist,
		// and its rate limit and scopes in report-only mode already.
		c := f.create(t, privateInput(func(in *Input) {
			in.Scopes, in.RateLimit, in.ReportOnly = []string{"admin", "keys:manage"}, "100", []string{"rate_limit", "scopes"}
			in.Domains = "ignored.example.com"
		}))
		f.takeChanged()
		sg := Suggestion{
			IPs:     []string{"203.0.113.7", "2001:db8::1", "198.51.100.0/24"},
			Origins: []string{"https://app.example.com"},
			Scopes:  []string{"read", "sms:send", "not-in-catalogue", "read"},
		}
		k, err := f.svc.Restrict(ctx, f.org, c.Key.ID, sg, f.actor)
		if err != nil {
			t.Fatalf("Restrict: %v (%v)", err, apperr.FieldsOf(err))
		}
		stored := f.get(t, c.Key.ID)
		for name, got := range map[string]Key{"answered": k, "stored": stored} {
			if strings.Join(got.IPs, ",") != "203.0.113.7/32,2001:db8::1/128,198.51.100.0/24" {
				t.Errorf("%s ips %v", name, got.IPs)
			}
			if strings.Join(got.Scopes, ",") != "read,sms:send,keys:manage" {
				t.Errorf("%s scopes %v: the observed catalogue scopes, and keys:manage kept", name, got.Scopes)
			}
			if strings.Join(got.Domains, ",") != "ignored.example.com" {
				t.Errorf("%s domains %v: a private key's domains are not touched", name, got.Domains)
			}
			if got.ReportOnly() != (ReportOnly{IPs: true, Scopes: true, RateLimit: true}) {
				t.Errorf("%s modes %+v", name, got.ReportOnly())
			}
			if *got.RateLimitPerMinute != 100 {
				t.Errorf("%s rate limit %v", name, got.RateLimitPerMinute)
			}
		}
		f.assertChanged(t, c.Key.KeyHash)
		evs := f.events(t, f.org, audit.KeyRestricted)
		if len(evs) != 1 || !strings.Contains(evs[0].Summary, "restricted "+c.Key.Hint+" (Billing server) to what it used, in report-only mode: IP allowlist 203.0.113.7/32, 2001:db8::1/128, 198.51.100.0/24; scopes read, sms:send, keys:manage") {
			t.Errorf("audit %+v", evs)
		}

		// Restricting never loosens: an enforced IP allowlist, enforced
		// domains and enforced scopes are left as they are.
		tight := f.create(t, privateInput(func(in *Input) { in.Scopes, in.IPs = []string{"read"}, "10.0.0.0/8" }))
		if _, err := f.svc.Restrict(ctx, f.org, tight.Key.ID, sg, f.actor); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("a key whose restrictions are all enforced: %v, want Invalid (nothing to restrict)", err)
		}
		if got := f.get(t, tight.Key.ID); strings.Join(got.IPs, ",") != "10.0.0.0/8" || got.ReportOnly().Any() {
			t.Errorf("an enforced key changed: %v %+v", got.IPs, got.ReportOnly())
		}

		// A public key whose domains only report: origins become its
		// domains; no scope observed leaves its scopes alone, and their mode.
		p := f.create(t, publicInput(func(in *Input) { in.Scopes, in.ReportOnly = []string{"read", "write"}, []string{"domains"} }))
		k, err = f.svc.Restrict(ctx, f.org, p.Key.ID, Suggestion{Origins: []string{"https://app.example.com", "http://localhost:3000"}}, f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(k.Domains, ",") != "https://app.example.com,http://localhost:3000" || strings.Join(k.Scopes, ",") != "read,write" || len(k.IPs) != 0 {
			t.Errorf("public key: %+v", k)
		}
		if got := f.get(t, p.Key.ID).ReportOnly(); got != (ReportOnly{Domains: true}) {
			t.Errorf("public key modes %+v", got)
		}

		// Refusals: nothing to restrict, a bad value, other org, ended keys.
		if _, err := f.svc.Restrict(ctx, f.org, c.Key.ID, Suggestion{Scopes: []string{"nope"}}, f.actor); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("only unknown scopes: %v", err)
		}
		if _, err := f.svc.Restrict(ctx, f.org, c.Key.ID, Suggestion{IPs: []string{"not an address"}}, f.actor); apperr.FieldsOf(err)["ips"] == "" {
			t.Errorf("a bad address: %v %v", err, apperr.FieldsOf(err))
		}
		if _, err := f.svc.Restrict(ctx, f.other, c.Key.ID, sg, f.otherActor); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another organization's key: %v", err)
		}
		if _, err := f.svc.Revoke(ctx, f.org, c.Key.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Restrict(ctx, f.org, c.Key.ID, sg, f.actor); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("a revoked key: %v", err)
		}
		if n := len(f.events(t, f.org, audit.KeyRestricted)); n != 2 {
			t.Errorf("%d key.restricted events, want 2", n)
		}
	})
}

// TestRestrictRollsBack: inside a caller's transaction that fails,
// Restrict leaves nothing behind and tells no cache.
func TestRestrictRollsBack(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, 100)
	c := f.create(t, privateInput())
	f.takeChanged()
	boom := errors.New("boom")
	err := db.WithTx(context.Background(), func(ctx context.Context) error {
		if _, err := f.svc.Restrict(ctx, f.org, c.Key.ID, Suggestion{IPs: []string{"203.0.113.7"}}, f.actor); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if k := f.get(t, c.Key.ID); len(k.IPs) != 0 || k.ReportIPs {
		t.Errorf("the restriction outlived the rollback: %+v", k)
	}
	f.assertChanged(t)
}

// TestKeyHas: which restrictions a key has at all.
func TestKeyHas(t *testing.T) {
	limit := 5
	cases := []struct {
		k    Key
		want []Restriction
	}{
		{Key{Kind: Private}, []Restriction{RestrictScopes}},
		{Key{Kind: Private, IPs: List{"10.0.0.0/8"}, Domains: List{"example.com"}}, []Restriction{RestrictIPs, RestrictScopes}},
		{Key{Kind: Public, Domains: List{"example.com"}, RateLimitPerMinute: &limit}, []Restriction{RestrictDomains, RestrictRateLimit, RestrictScopes}},
	}
	for i, tc := range cases {
		var got []Restriction
		for _, r := range Restrictions {
			if tc.k.Has(r) {
				got = append(got, r)
			}
		}
		if strings.Join(restrictionNames(got), ",") != strings.Join(restrictionNames(tc.want), ",") {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
}

func restrictionNames(rs []Restriction) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// TestPropose: what a key can take of what its traffic used.
func TestPropose(t *testing.T) {
	ips := []string{"203.0.113.7", "2001:db8::1", "not-an-ip"}
	origins := []string{"https://app.example.com", "http://[::1]:3000"}
	scopes := []string{"read", "reports:export", "read"}
	sg, left := testPolicy.Propose(Key{Kind: Public, Scopes: List{"read", "write"}}, ips, origins, scopes)
	if strings.Join(sg.IPs, ",") != "203.0.113.7,2001:db8::1" || strings.Join(sg.Origins, ",") != "https://app.example.com" || strings.Join(sg.Scopes, ",") != "read" {
		t.Errorf("public: %+v", sg)
	}
	if strings.Join(left, ",") != "not-an-ip,http://[::1]:3000,reports:export" {
		t.Errorf("left out %v", left)
	}
	// A scope the key does not hold, seen on requests a report-only scope
	// check let through, is left out: restricting never grants.
	if sg, left := testPolicy.Propose(Key{Kind: Private, Scopes: List{"write"}}, nil, nil, []string{"read", "write"}); strings.Join(sg.Scopes, ",") != "write" || strings.Join(left, ",") != "read" {
		t.Errorf("scopes not held: %+v, left %v", sg, left)
	}
	sg, left = testPolicy.Propose(Key{Kind: Private}, nil, origins, nil)
	if len(sg.Origins) != 0 || len(left) != 0 || !sg.Empty() {
		t.Errorf("private: %+v, %v: a private key's origins are neither proposed nor left out", sg, left)
	}
	var many []string
	for i := range MaxIPs + 2 {
		many = append(many, fmt.Sprintf("10.0.%d.%d", i/200, i%200))
	}
	if sg, left = testPolicy.Propose(Key{Kind: Private}, many, nil, nil); len(sg.IPs) != MaxIPs || len(left) != 2 {
		t.Errorf("%d addresses proposed, %d left out", len(sg.IPs), len(left))
	}
}
