package apikey

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/quota"
)

// Input is a key's settings as typed into the form, before validation.
type Input struct {
	// Product is the slug of the key's product; "" for the default. It is
	// read at creation only.
	Product     string
	Description string
	Kind        string
	Environment string
	Scopes      []string
	Domains     string // one per line
	IPs         string // one CIDR or address per line
	ExpiresAt   string // a date, YYYY-MM-DD; empty for none
	// ExpiresIn, when positive, sets the expiry to now plus it, to the
	// second (the command line's --expires-in); it wins over ExpiresAt.
	ExpiresIn time.Duration
	// ExpiresAtTime, when set, is the expiry to the second (the management
	// API's RFC 3339 times); it wins over ExpiresAt.
	ExpiresAtTime time.Time
	RateLimit     string // requests per minute; empty for the default
	BlockMinutes  string
	// Quota is the key's own quota; all empty for none.
	Quota QuotaInput
	// ReportOnly names the restrictions in report-only mode ("ips",
	// "domains", "rate_limit", "scopes", "quota"); the others are enforced.
	ReportOnly []string
}

// Settings are validated key settings.
type Settings struct {
	Description        string
	Kind               Kind
	Environment        Environment
	Scopes             []string
	Domains            []string
	IPs                []string
	ExpiresAt          *time.Time
	RateLimitPerMinute *int
	BlockMinutes       *int
	// Quota is the key's own quota as typed, its anchor and top-up not yet
	// set (nil for none).
	Quota      *quota.Spec
	ReportOnly ReportOnly
	// quotaID is set for a rotation's new key: the quota it counts under,
	// whose Quota (anchor and top-up included) it takes as it is.
	quotaID *string
}

// Limits on settings.
const (
	MaxDescription = 200
	MaxDomains     = 50
	MaxIPs         = 100
	MaxRateLimit   = 1_000_000
	MaxBlock       = 30 * 24 * 60
)

// Policy holds the deployment's rules for settings.
type Policy struct {
	// Scopes is the catalogue, built-ins included.
	Scopes []string
	// PrivateOnly refuses public keys.
	PrivateOnly bool
	// PublicRateLimit and PublicBlockMinutes are the defaults of public keys.
	PublicRateLimit    int
	PublicBlockMinutes int
}

// Validate turns in into Settings, or returns an Invalid error with a
// message per field. Public keys get the deployment's rate limit and block
// when none is given.
func (p Policy) Validate(in Input, now time.Time) (Settings, error) {
	var s Settings
	errs := map[string]string{}

	s.Description = strings.TrimSpace(in.Description)
	switch n := utf8.RuneCountInString(s.Description); {
	case n == 0:
		errs["description"] = "Describe what the key is for."
	case n > MaxDescription:
		errs["description"] = fmt.Sprintf("Use at most %d characters.", MaxDescription)
	}

	switch Kind(in.Kind) {
	case Private:
		s.Kind = Private
	case Public:
		s.Kind = Public
		if p.PrivateOnly {
			errs["kind"] = "This product's keys are private only."
		}
	default:
		errs["kind"] = "Choose private or public."
	}
	switch Environment(in.Environment) {
	case Live, Test:
		s.Environment = Environment(in.Environment)
	default:
		errs["environment"] = "Choose live or test."
	}

	for _, sc := range in.Scopes {
		sc = strings.TrimSpace(sc)
		if sc == "" || slices.Contains(s.Scopes, sc) {
			continue
		}
		if !slices.Contains(p.Scopes, sc) {
			errs["scopes"] = fmt.Sprintf("Unknown scope %q.", truncate(sc, 40))
			break
		}
		s.Scopes = append(s.Scopes, sc)
	}

	// keys:manage is a server's credential: a public key sits in web pages.
	if s.Kind == Public && slices.Contains(s.Scopes, config.ScopeKeysManage) && errs["scopes"] == "" {
		errs["scopes"] = "keys:manage is for private keys only: a public key is visible in web pages."
	}

	for i, line := range lines(in.Domains) {
		if i >= MaxDomains {
			errs["domains"] = fmt.Sprintf("Use at most %d domains.", MaxDomains)
			break
		}
		d, err := ParseDomainPattern(line)
		if err != nil {
			errs["domains"] = fmt.Sprintf("%q is not a domain pattern: use example.com, *.example.com or https://app.example.com:8443.", truncate(line, 60))
			break
		}
		if !slices.Contains(s.Domains, d.String()) {
			s.Domains = append(s.Domains, d.String())
		}
	}
	if s.Kind == Public && len(s.Domains) == 0 && errs["domains"] == "" {
		errs["domains"] = "A public key needs at least one allowed domain."
	}

	for i, line := range lines(in.IPs) {
		if i >= MaxIPs {
			errs["ips"] = fmt.Sprintf("Use at most %d addresses.", MaxIPs)
			break
		}
		pfx, err := parsePrefix(line)
		if err != nil {
			errs["ips"] = fmt.Sprintf("%q is not an IP address or CIDR range.", truncate(line, 60))
			break
		}
		if !slices.Contains(s.IPs, pfx.String()) {
			s.IPs = append(s.IPs, pfx.String())
		}
	}

	var end time.Time
	if in.ExpiresIn > 0 {
		end = now.Add(in.ExpiresIn).UTC().Truncate(time.Second)
	} else if !in.ExpiresAtTime.IsZero() {
		end = in.ExpiresAtTime.UTC().Truncate(time.Second)
	} else if d := strings.TrimSpace(in.ExpiresAt); d != "" {
		day, err := time.Parse("2006-01-02", d)
		if err != nil {
			errs["expires_at"] = "Enter a date as YYYY-MM-DD."
		} else {
			// The key works through that whole day, UTC, and stops at the
			// first instant of the next.
			end = day.AddDate(0, 0, 1).UTC()
		}
	}
	if !end.IsZero() {
		if !end.After(now) {
			errs["expires_at"] = "Choose a date in the future."
		} else if end.Sub(now) > 10*365*24*time.Hour {
			errs["expires_at"] = "Choose a date within ten years."
		}
		s.ExpiresAt = &end
	}

	if v, msg := optionalInt(in.RateLimit, 1, MaxRateLimit); msg != "" {
		errs["rate_limit_per_minute"] = msg
	} else {
		s.RateLimitPerMinute = v
	}
	if v, msg := optionalInt(in.BlockMinutes, 0, MaxBlock); msg != "" {
		errs["block_minutes"] = msg
	} else {
		s.BlockMinutes = v
	}
	if s.Kind == Public {
		if s.RateLimitPerMinute == nil {
			n := p.PublicRateLimit
			s.RateLimitPerMinute = &n
		}
		if s.BlockMinutes == nil {
			n := p.PublicBlockMinutes
			s.BlockMinutes = &n
		}
	}

	s.Quota = validateQuota(in.Quota, errs, "")
	if m, msg := parseReportOnly(in.ReportOnly); msg != "" {
		errs["report_only"] = msg
	} else {
		s.ReportOnly = m
	}

	if len(errs) > 0 {
		return Settings{}, apperr.InvalidFields(errs)
	}
	return s, nil
}

// ExpiryDate is the last day, UTC, on which a key expiring at t works: the
// date the form shows and takes back.
func ExpiryDate(t time.Time) string {
	return t.Add(-time.Nanosecond).UTC().Format("2006-01-02")
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func optionalInt(s string, min, max int) (*int, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return nil, fmt.Sprintf("Enter a whole number from %d to %d.", min, max)
	}
	return &n, ""
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
