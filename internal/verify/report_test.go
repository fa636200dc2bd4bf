package verify

import (
	"net/netip"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/quota"
)

// TestReportOnlyLetsThrough runs each restriction in report-only mode: the
// request it would refuse is allowed and counted as would_<code>, while
// the same restriction enforced refuses it.
func TestReportOnlyLetsThrough(t *testing.T) {
	office := netip.MustParseAddr("203.0.113.7")
	elsewhere := netip.MustParseAddr("198.51.100.9")
	cases := []struct {
		name  string
		bit   Report
		edit  func(*Key)
		req   Request
		code  string
		would string
	}{
		{"ips", ReportIPs, func(k *Key) { k.IPs = []netip.Prefix{netip.PrefixFrom(office, 32)} },
			Request{ClientIP: elsewhere}, CodeIPNotAllowed, WouldIPNotAllowed},
		{"domains", ReportDomains, func(k *Key) {
			k.Kind = apikey.Public
			d, _ := apikey.ParseDomainPattern("app.example.com")
			k.Domains = []apikey.DomainPattern{d}
		}, Request{Origin: "https://evil.example.net", ClientIP: office}, CodeDomainNotAllowed, WouldDomainNotAllowed},
		{"anonymous", ReportDomains, func(k *Key) {
			k.Kind = apikey.Public
			d, _ := apikey.ParseDomainPattern("app.example.com")
			k.Domains = []apikey.DomainPattern{d}
		}, Request{ClientIP: office}, CodeAnonymous, WouldAnonymous},
		{"scopes", ReportScopes, func(k *Key) { k.Scopes = []string{"sms:send"} },
			Request{Scopes: []string{"reports:read"}}, CodeForbidden, WouldForbidden},
		{"quota", ReportQuota, func(k *Key) {
			k.Quota = &quota.Subject{ID: k.ID, Spec: quota.Spec{Kind: quota.Day, Limit: 1}}
		}, Request{}, CodeQuotaExceeded, WouldQuotaExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, report := range []bool{false, true} {
				f := newFixture(t, Options{})
				secret := f.add(t, func(k *Key) {
					tc.edit(k)
					if report {
						k.Report = tc.bit
					}
				})
				req := tc.req
				req.Key = secret
				if tc.code == CodeQuotaExceeded {
					f.verify(req) // spends the one request the quota allows
				}
				res := f.verify(req)
				switch {
				case !report && (res.Allowed || res.Code != tc.code):
					t.Fatalf("enforced: %+v, want refused with %s", res, tc.code)
				case report && (!res.Allowed || res.Would != tc.would || res.Outcome() != tc.would):
					t.Fatalf("report-only: allowed %v, outcome %q; want allowed as %q", res.Allowed, res.Outcome(), tc.would)
				}
			}
		})
	}
}

// TestReportOnlyRateLimit counts a report-only rate limit's would-be
// refusals exactly: the requests past the limit, in its window.
func TestReportOnlyRateLimit(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, func(k *Key) { k.RateLimit, k.Report = 3, ReportRateLimit })
	counts := map[string]int{}
	for range 10 {
		res := f.verify(Request{Key: secret})
		if !res.Allowed {
			t.Fatalf("report-only rate limit refused: %+v", res)
		}
		counts[res.Outcome()]++
	}
	if counts[OutcomeAllowed] != 3 || counts[WouldRateLimited] != 7 {
		t.Fatalf("outcomes %v, want 3 allowed and 7 would_rate_limited", counts)
	}
	f.clock.Advance(Window)
	if res := f.verify(Request{Key: secret}); res.Outcome() != OutcomeAllowed {
		t.Fatalf("after the window: %q, want allowed", res.Outcome())
	}
}

// TestReportOnlyFirstWouldNamesOutcome: with two report-only restrictions
// that would refuse, the first in the order of checks names the outcome,
// and an enforced one further on still refuses.
func TestReportOnlyFirstWouldNamesOutcome(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, func(k *Key) {
		k.IPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		k.Scopes = []string{"sms:send"}
		k.Report = ReportIPs | ReportScopes
	})
	req := Request{Key: secret, ClientIP: netip.MustParseAddr("198.51.100.1"), Scopes: []string{"reports:read"}}
	if res := f.verify(req); !res.Allowed || res.Outcome() != WouldIPNotAllowed {
		t.Fatalf("got allowed %v, outcome %q; want allowed as %s", res.Allowed, res.Outcome(), WouldIPNotAllowed)
	}
	enforced := f.add(t, func(k *Key) {
		k.IPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		k.Scopes = []string{"sms:send"}
		k.Report = ReportIPs
	})
	req.Key = enforced
	if res := f.verify(req); res.Allowed || res.Code != CodeForbidden {
		t.Fatalf("got %+v, want forbidden from the enforced scopes", res)
	}
}

// TestQuotaSpendsOnlyAllowed: the quota refuses at its limit with
// quota_exceeded, and refused requests (by any check) spend nothing.
func TestQuotaSpendsOnlyAllowed(t *testing.T) {
	f := newFixture(t, Options{})
	secret := f.add(t, func(k *Key) {
		k.Scopes = []string{"sms:send"}
		k.Quota = &quota.Subject{ID: k.ID, Spec: quota.Spec{Kind: quota.Day, Limit: 5}}
	})
	for range 3 {
		if res := f.verify(Request{Key: secret, Scopes: []string{"other"}}); res.Code != CodeForbidden {
			t.Fatalf("got %q, want forbidden", res.Code)
		}
	}
	for i := range 5 {
		res := f.verify(Request{Key: secret})
		if !res.Allowed || res.Quota == nil || res.Quota.Key.Remaining != int64(4-i) || res.Quota.Spent != 1 {
			t.Fatalf("request %d: %+v %+v", i, res, res.Quota)
		}
	}
	res := f.verify(Request{Key: secret})
	if res.Allowed || res.Code != CodeQuotaExceeded || res.Quota.Spent != 0 {
		t.Fatalf("past the quota: %+v", res)
	}
	// The next UTC day starts afresh.
	now := f.clock.Now()
	f.clock.Advance(time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now))
	if res := f.verify(Request{Key: secret}); !res.Allowed || res.Quota.Key.Remaining != 4 {
		t.Fatalf("next day: %+v", res)
	}
}

// TestQuotaCosts: a request spends its cost; cost 0 checks without
// spending and is refused once nothing is left; the organization's quota
// is shared by its keys.
func TestQuotaCosts(t *testing.T) {
	f := newFixture(t, Options{})
	org := &quota.Subject{ID: "org-1", Spec: quota.Spec{Kind: quota.Month, Limit: 10}}
	a := f.add(t, func(k *Key) { k.OrgQuota = org })
	b := f.add(t, func(k *Key) { k.OrgQuota = org })
	if res := f.verify(Request{Key: a, Cost: 6, HasCost: true}); !res.Allowed || res.Quota.Org.Remaining != 4 {
		t.Fatalf("cost 6: %+v", res.Quota)
	}
	if res := f.verify(Request{Key: b, Cost: 5, HasCost: true}); res.Allowed || res.Code != CodeQuotaExceeded {
		t.Fatalf("cost 5 with 4 left: %+v", res)
	}
	if res := f.verify(Request{Key: b, Cost: 0, HasCost: true}); !res.Allowed || res.Quota.Spent != 0 || res.Quota.Org.Remaining != 4 {
		t.Fatalf("cost 0: %+v", res.Quota)
	}
	if res := f.verify(Request{Key: b, Cost: 4, HasCost: true}); !res.Allowed || res.Quota.Org.Remaining != 0 {
		t.Fatalf("cost 4: %+v", res.Quota)
	}
	if res := f.verify(Request{Key: a, Cost: 0, HasCost: true}); res.Allowed || res.Code != CodeQuotaExceeded {
		t.Fatalf("cost 0 with nothing left: %+v", res)
	}
}
