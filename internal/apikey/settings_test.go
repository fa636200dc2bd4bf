package apikey

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/apperr"
)

// testPolicy is the deployment every test runs with: the default catalogue,
// one operator scope, the built-ins, and public defaults of 5 and 5.
var testPolicy = Policy{
	Scopes:             []string{"read", "write", "sms:send", "admin", "keys:manage"},
	PublicRateLimit:    5,
	PublicBlockMinutes: 5,
}

// privateInput is a minimal valid private key; with edits applied to it.
func privateInput(edits ...func(*Input)) Input {
	in := Input{Description: "Billing server", Kind: "private", Environment: "live"}
	for _, e := range edits {
		e(&in)
	}
	return in
}

// publicInput is a minimal valid public key; with edits applied to it.
func publicInput(edits ...func(*Input)) Input {
	in := Input{Description: "Checkout page", Kind: "public", Environment: "test", Domains: "example.com"}
	for _, e := range edits {
		e(&in)
	}
	return in
}

func intPtr(n int) *int { return &n }

func sameInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func showInt(p *int) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestPolicyValidate(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	// The end of a day is the first instant of the next: keys stop there.
	endOf := func(y int, m time.Month, d int) *time.Time {
		t := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		return &t
	}
	tests := []struct {
		name   string
		policy *Policy // testPolicy when nil
		in     Input
		// errFields are exactly the fields an Invalid error names; none means valid.
		errFields []string
		// errContains maps a field to a substring its message must contain.
		errContains map[string]string
		// want is compared with the result field by field when errFields is empty.
		want Settings
	}{
		{
			name: "minimal private key",
			in:   privateInput(),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live},
		},
		{
			name: "description is trimmed",
			in:   privateInput(func(in *Input) { in.Description = "  Billing server \n" }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live},
		},
		{
			name:      "description is required",
			in:        privateInput(func(in *Input) { in.Description = "" }),
			errFields: []string{"description"},
		},
		{
			name:      "blank description is missing",
			in:        privateInput(func(in *Input) { in.Description = " \t\n " }),
			errFields: []string{"description"},
		},
		{
			name: "200 runes are allowed even when they take more bytes",
			in:   privateInput(func(in *Input) { in.Description = strings.Repeat("é", 200) }),
			want: Settings{Description: strings.Repeat("é", 200), Kind: Private, Environment: Live},
		},
		{
			name:        "201 runes are too many",
			in:          privateInput(func(in *Input) { in.Description = strings.Repeat("a", 201) }),
			errFields:   []string{"description"},
			errContains: map[string]string{"description": "200"},
		},
		{
			name:      "unknown kind",
			in:        privateInput(func(in *Input) { in.Kind = "secret" }),
			errFields: []string{"kind"},
		},
		{
			name:      "empty kind",
			in:        privateInput(func(in *Input) { in.Kind = "" }),
			errFields: []string{"kind"},
		},
		{
			name:      "kind is case-sensitive",
			in:        privateInput(func(in *Input) { in.Kind = "Private" }),
			errFields: []string{"kind"},
		},
		{
			name:      "unknown environment",
			in:        privateInput(func(in *Input) { in.Environment = "prod" }),
			errFields: []string{"environment"},
		},
		{
			name:      "empty environment",
			in:        privateInput(func(in *Input) { in.Environment = "" }),
			errFields: []string{"environment"},
		},
		{
			name: "known scopes, built-ins included",
			in:   privateInput(func(in *Input) { in.Scopes = []string{"sms:send", "admin", "keys:manage"} }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, Scopes: []string{"sms:send", "admin", "keys:manage"}},
		},
		{
			name:        "unknown scope is refused",
			in:          privateInput(func(in *Input) { in.Scopes = []string{"read", "delete:everything"} }),
			errFields:   []string{"scopes"},
			errContains: map[string]string{"scopes": "delete:everything"},
		},
		{
			name:      "scopes are case-sensitive",
			in:        privateInput(func(in *Input) { in.Scopes = []string{"Read"} }),
			errFields: []string{"scopes"},
		},
		{
			name: "duplicate and blank scopes collapse",
			in:   privateInput(func(in *Input) { in.Scopes = []string{"read", "write", "read", " read ", "", "write"} }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, Scopes: []string{"read", "write"}},
		},
		{
			name:        "public key without domains",
			in:          publicInput(func(in *Input) { in.Domains = " \n \n" }),
			errFields:   []string{"domains"},
			errContains: map[string]string{"domains": "domain"},
		},
		{
			name: "public key domains are canonical and deduplicated; defaults apply",
			in: publicInput(func(in *Input) {
				in.Domains = "Example.com\r\n*.example.com, https://App.Example.com:8443/\nexample.com"
			}),
			want: Settings{
				Description: "Checkout page", Kind: Public, Environment: Test,
				Domains:            []string{"example.com", "*.example.com", "https://app.example.com:8443"},
				RateLimitPerMinute: intPtr(5), BlockMinutes: intPtr(5),
			},
		},
		{
			name: "private key may list domains",
			in:   privateInput(func(in *Input) { in.Domains = "example.com" }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, Domains: []string{"example.com"}},
		},
		{
			name:        "bad domain pattern",
			in:          publicInput(func(in *Input) { in.Domains = "example.com\nexample.com/path" }),
			errFields:   []string{"domains"},
			errContains: map[string]string{"domains": "example.com/path"},
		},
		{
			name:      "bad domain scheme",
			in:        privateInput(func(in *Input) { in.Domains = "ftp://example.com" }),
			errFields: []string{"domains"},
		},
		{
			name: "IPv4, IPv6 and CIDR in canonical masked form",
			in: privateInput(func(in *Input) {
				in.IPs = "10.1.2.3/8\n192.168.1.1\n2001:db8::1\n2001:DB8:0:0:1::/64\n::ffff:1.2.3.4\n10.0.0.0/8, 192.168.1.1/32"
			}),
			want: Settings{
				Description: "Billing server", Kind: Private, Environment: Live,
				IPs: []string{"10.0.0.0/8", "192.168.1.1/32", "2001:db8::1/128", "2001:db8::/64", "1.2.3.4/32"},
			},
		},
		{
			name:        "garbage IP",
			in:          privateInput(func(in *Input) { in.IPs = "10.0.0.1\nnot-an-ip" }),
			errFields:   []string{"ips"},
			errContains: map[string]string{"ips": "not-an-ip"},
		},
		{name: "IPv4 octet out of range", in: privateInput(func(in *Input) { in.IPs = "300.1.1.1" }), errFields: []string{"ips"}},
		{name: "prefix too long", in: privateInput(func(in *Input) { in.IPs = "10.0.0.0/33" }), errFields: []string{"ips"}},
		{name: "IPv6 prefix too long", in: privateInput(func(in *Input) { in.IPs = "2001:db8::/129" }), errFields: []string{"ips"}},
		{name: "IPv6 zone", in: privateInput(func(in *Input) { in.IPs = "fe80::1%eth0" }), errFields: []string{"ips"}},
		{name: "hostname instead of IP", in: privateInput(func(in *Input) { in.IPs = "example.com" }), errFields: []string{"ips"}},
		{
			name: "expiry date is the end of that day in UTC",
			in:   privateInput(func(in *Input) { in.ExpiresAt = " 2030-06-20 " }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, ExpiresAt: endOf(2030, 6, 20)},
		},
		{
			name: "today is still in the future until midnight",
			in:   privateInput(func(in *Input) { in.ExpiresAt = "2030-06-15" }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, ExpiresAt: endOf(2030, 6, 15)},
		},
		{name: "past expiry", in: privateInput(func(in *Input) { in.ExpiresAt = "2030-06-14" }), errFields: []string{"expires_at"}},
		{name: "expiry long past", in: privateInput(func(in *Input) { in.ExpiresAt = "1999-01-01" }), errFields: []string{"expires_at"}},
		{name: "expiry in another format", in: privateInput(func(in *Input) { in.ExpiresAt = "20/06/2030" }), errFields: []string{"expires_at"}},
		{name: "expiry with a time", in: privateInput(func(in *Input) { in.ExpiresAt = "2030-06-20T10:00:00Z" }), errFields: []string{"expires_at"}},
		{name: "expiry month 13", in: privateInput(func(in *Input) { in.ExpiresAt = "2030-13-01" }), errFields: []string{"expires_at"}},
		{
			name: "private key: empty rate limit and block stay unset",
			in:   privateInput(func(in *Input) { in.RateLimit, in.BlockMinutes = " ", "" }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live},
		},
		{
			name: "private key: explicit rate limit and block",
			in:   privateInput(func(in *Input) { in.RateLimit, in.BlockMinutes = "60", "10" }),
			want: Settings{Description: "Billing server", Kind: Private, Environment: Live, RateLimitPerMinute: intPtr(60), BlockMinutes: intPtr(10)},
		},
		{
			name: "public key: explicit values win over the defaults; block 0 means no block",
			in:   publicInput(func(in *Input) { in.RateLimit, in.BlockMinutes = "100", "0" }),
			want: Settings{Description: "Checkout page", Kind: Public, Environment: Test, Domains: []string{"example.com"}, RateLimitPerMinute: intPtr(100), BlockMinutes: intPtr(0)},
		},
		{
			name:   "public key: defaults come from the policy, each in its place",
			policy: &Policy{Scopes: testPolicy.Scopes, PublicRateLimit: 7, PublicBlockMinutes: 3},
			in:     publicInput(),
			want:   Settings{Description: "Checkout page", Kind: Public, Environment: Test, Domains: []string{"example.com"}, RateLimitPerMinute: intPtr(7), BlockMinutes: intPtr(3)},
		},
		{name: "rate limit not a number", in: privateInput(func(in *Input) { in.RateLimit = "ten" }), errFields: []string{"rate_limit_per_minute"}},
		{name: "rate limit not whole", in: privateInput(func(in *Input) { in.RateLimit = "1.5" }), errFields: []string{"rate_limit_per_minute"}},
		{name: "rate limit zero", in: publicInput(func(in *Input) { in.RateLimit = "0" }), errFields: []string{"rate_limit_per_minute"}},
		{name: "rate limit negative", in: privateInput(func(in *Input) { in.RateLimit = "-5" }), errFields: []string{"rate_limit_per_minute"}},
		{name: "rate limit too large", in: privateInput(func(in *Input) { in.RateLimit = "1000001" }), errFields: []string{"rate_limit_per_minute"}},
		{name: "block not a number", in: privateInput(func(in *Input) { in.BlockMinutes = "5m" }), errFields: []string{"block_minutes"}},
		{name: "block negative", in: publicInput(func(in *Input) { in.BlockMinutes = "-1" }), errFields: []string{"block_minutes"}},
		{
			name: "every bad field is reported at once",
			in: Input{
				Description: "", Kind: "secret", Environment: "prod", Scopes: []string{"nope"},
				Domains: "bad domain", IPs: "garbage", ExpiresAt: "tomorrow", RateLimit: "0", BlockMinutes: "-1",
			},
			errFields: []string{"description", "kind", "environment", "scopes", "domains", "ips", "expires_at", "rate_limit_per_minute", "block_minutes"},
		},
		{
			name:      "a public key's missing domains are reported with the other errors",
			in:        publicInput(func(in *Input) { in.Domains, in.Description, in.ExpiresAt = "", "", "2000-01-01" }),
			errFields: []string{"description", "domains", "expires_at"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy
			if tt.policy != nil {
				p = *tt.policy
			}
			got, err := p.Validate(tt.in, now)
			if len(tt.errFields) > 0 {
				if !apperr.Is(err, apperr.Invalid) {
					t.Fatalf("Validate error = %v (code %q), want Invalid", err, apperr.CodeOf(err))
				}
				fields := apperr.FieldsOf(err)
				gotFields := slices.Sorted(maps.Keys(fields))
				wantFields := slices.Sorted(slices.Values(tt.errFields))
				if !slices.Equal(gotFields, wantFields) {
					t.Errorf("error fields = %v, want %v (%v)", gotFields, wantFields, fields)
				}
				for f, sub := range tt.errContains {
					if !strings.Contains(fields[f], sub) {
						t.Errorf("message on %q = %q, want it to contain %q", f, fields[f], sub)
					}
				}
				for f, msg := range fields {
					if strings.TrimSpace(msg) == "" {
						t.Errorf("empty message on %q", f)
					}
				}
				if got.Description != "" || got.Kind != "" || got.ExpiresAt != nil || got.RateLimitPerMinute != nil {
					t.Errorf("Validate returned settings %+v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v (fields %v)", err, apperr.FieldsOf(err))
			}
			assertSettings(t, got, tt.want)
		})
	}
}

func assertSettings(t *testing.T, got, want Settings) {
	t.Helper()
	if got.Description != want.Description {
		t.Errorf("Description = %q, want %q", got.Description, want.Description)
	}
	if got.Kind != want.Kind || got.Environment != want.Environment {
		t.Errorf("Kind, Environment = %q, %q; want %q, %q", got.Kind, got.Environment, want.Kind, want.Environment)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		t.Errorf("Scopes = %q, want %q", got.Scopes, want.Scopes)
	}
	if !slices.Equal(got.Domains, want.Domains) {
		t.Errorf("Domains = %q, want %q", got.Domains, want.Domains)
	}
	if !slices.Equal(got.IPs, want.IPs) {
		t.Errorf("IPs = %q, want %q", got.IPs, want.IPs)
	}
	switch {
	case (got.ExpiresAt == nil) != (want.ExpiresAt == nil):
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	case got.ExpiresAt != nil && !got.ExpiresAt.Equal(*want.ExpiresAt):
		t.Errorf("ExpiresAt = %v, want %v", *got.ExpiresAt, *want.ExpiresAt)
	case got.ExpiresAt != nil && got.ExpiresAt.Location() != time.UTC:
		t.Errorf("ExpiresAt location = %v, want UTC", got.ExpiresAt.Location())
	}
	if !sameInt(got.RateLimitPerMinute, want.RateLimitPerMinute) {
		t.Errorf("RateLimitPerMinute = %v, want %v", showInt(got.RateLimitPerMinute), showInt(want.RateLimitPerMinute))
	}
	if !sameInt(got.BlockMinutes, want.BlockMinutes) {
		t.Errorf("BlockMinutes = %v, want %v", showInt(got.BlockMinutes), showInt(want.BlockMinutes))
	}
}

// TestPolicyKeysManageIsPrivate: keys:manage is refused on a public key,
// whatever else it holds, and allowed on a private one.
func TestPolicyKeysManageIsPrivate(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	_, err := testPolicy.Validate(publicInput(func(in *Input) { in.Scopes = []string{"read", "keys:manage"} }), now)
	if f := apperr.FieldsOf(err); f["scopes"] == "" || len(f) != 1 {
		t.Errorf("keys:manage on a public key: %v", err)
	}
	if _, err := testPolicy.Validate(privateInput(func(in *Input) { in.Scopes = []string{"keys:manage"} }), now); err != nil {
		t.Errorf("keys:manage on a private key: %v", err)
	}
}

// TestPolicyExpiryInstant: an RFC 3339 expiry (the management API's) is
// kept to the second, in UTC.
func TestPolicyExpiryInstant(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	at, _ := time.Parse(time.RFC3339, "2030-07-01T10:30:15.9+02:00")
	set, err := testPolicy.Validate(privateInput(func(in *Input) { in.ExpiresAtTime = at }), now)
	want := time.Date(2030, 7, 1, 8, 30, 15, 0, time.UTC)
	if err != nil || set.ExpiresAt == nil || !set.ExpiresAt.Equal(want) || set.ExpiresAt.Location() != time.UTC {
		t.Errorf("expiry %v, %v; want %v", set.ExpiresAt, err, want)
	}
	_, err = testPolicy.Validate(privateInput(func(in *Input) { in.ExpiresAtTime = now.Add(-time.Hour) }), now)
	if apperr.FieldsOf(err)["expires_at"] == "" {
		t.Errorf("an instant in the past: %v", err)
	}
}
