package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

// demoDays is how much usage history the demo makes up.
const demoDays = 30

// demoKey describes one demo key: its settings, its life, its traffic.
type demoKey struct {
	in        apikey.Input
	createdAt time.Time     // the service's clock when the key is created
	revokeAt  time.Time     // zero: never revoked
	rotateAt  time.Time     // zero: never rotated; else rotated with a 24 h grace
	perHour   float64       // requests in a busy working hour
	ips       []string      // client addresses it is used from
	unused    time.Duration // no traffic in the last unused (a key left idle)
	needs     []string      // the scopes its requests need; empty: all it holds
	// outside are addresses outside its report-only IP allowlist that
	// also use it: their requests are counted as would_ip_not_allowed.
	outside []string
}

// demoCommand runs `keyplane demo [--force]`: it adds an organization with
// an admin, a member, a dozen keys and 30 days of usage, and prints the
// passwords. It refuses a database that has users unless force; with force
// it adds beside what exists and never deletes.
func demoCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	force := false
	for _, a := range args {
		switch a {
		case "--force", "-force":
			force = true
		default:
			return usagef("demo: unexpected argument %q; usage: keyplane demo [--force]", a)
		}
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts := account.NewService(db, nil)
	orgs := org.NewService(db, nil)

	hasUsers, err := accounts.HasUsers(ctx)
	if err != nil {
		return err
	}
	if hasUsers && !force {
		return errors.New("demo: the database already has users; run `keyplane demo --force` to add a demo organization beside them")
	}

	slug, name, err := freeDemoSlug(ctx, db)
	if err != nil {
		return err
	}
	// On an empty database nobody else could run the instance: the demo
	// admin is its operator.
	admin, adminPW, err := demoUser(ctx, accounts, "admin@example.com", "Demo Admin", !hasUsers)
	if err != nil {
		return err
	}
	member, memberPW, err := demoUser(ctx, accounts, "member@example.com", "Demo Member", false)
	if err != nil {
		return err
	}
	actor := audit.Actor{UserID: admin.ID, Email: admin.Email}
	o, err := orgs.Create(ctx, name, slug, admin.ID, actor)
	if err != nil {
		return cliError(err)
	}
	if err := orgs.AddMember(ctx, o.ID, member.ID, org.Member, actor); err != nil {
		return cliError(err)
	}

	now := time.Now().UTC()
	n, rows, err := demoKeysAndUsage(ctx, db, cfg, o.ID, actor, now)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "created organization %s with %d keys and %d days of usage (%d rows)\n", o.Slug, n, demoDays, rows)
	fmt.Fprintf(stdout, "sign in at %s/login\n", cfg.BaseURL.String())
	for _, u := range []struct{ email, pw string }{{admin.Email, adminPW}, {member.Email, memberPW}} {
		if u.pw == "" {
			u.pw = "(existing user: password unchanged)"
		}
		fmt.Fprintf(stdout, "%s  %s\n", u.email, u.pw)
	}
	return nil
}

// freeDemoSlug returns "demo", or the first free of "demo-2", "demo-3"...
func freeDemoSlug(ctx context.Context, db *store.DB) (slug, name string, err error) {
	for i := 1; ; i++ {
		slug, name = "demo", "Demo"
		if i > 1 {
			slug, name = fmt.Sprintf("demo-%d", i), fmt.Sprintf("Demo %d", i)
		}
		var n int64
		if err := db.WithContext(ctx).Model(&org.Organization{}).Where("slug = ?", slug).Count(&n).Error; err != nil {
			return "", "", fmt.Errorf("demo: find a free slug: %w", err)
		}
		if n == 0 {
			return slug, name, nil
		}
	}
}

// demoUser returns the user with email, creating it with a random password
// when missing; password is "" for a user that already existed.
func demoUser(ctx context.Context, accounts *account.Service, email, name string, operator bool) (account.User, string, error) {
	u, err := accounts.UserByEmail(ctx, email)
	if err == nil {
		return u, "", nil
	}
	if !apperr.Is(err, apperr.NotFound) {
		return account.User{}, "", err
	}
	b := make([]byte, 15)
	rand.Read(b)
	password := base64.RawURLEncoding.EncodeToString(b)
	u, err = accounts.CreateUser(ctx, account.NewUser{Email: email, Name: name, Password: password, Operator: operator})
	if err != nil {
		return account.User{}, "", cliError(err)
	}
	return u, password, nil
}

// demoKeysAndUsage creates the demo keys of orgID through the key service
// and writes their usage; it returns how many keys and usage rows it made.
func demoKeysAndUsage(ctx context.Context, db *store.DB, cfg config.Config, orgID string, actor audit.Actor, now time.Time) (int, int, error) {
	hour := now.Truncate(time.Hour)
	start := hour.Add(-demoDays * 24 * time.Hour)
	opts := apikey.ConfigOptions(cfg)
	if opts.MaxKeys < 20 {
		opts.MaxKeys = 20 // the demo's own keys, whatever the deployment's limit
	}
	at := func(t time.Time) *apikey.Service {
		o := opts
		o.Now = func() time.Time { return t }
		return apikey.NewService(db, o)
	}
	scopes := demoScopes(opts.Policy.Scopes)
	read, write := scopes[0], scopes[len(scopes)-1]
	day := 24 * time.Hour
	office := []string{"203.0.113.10", "203.0.113.24"}
	browsers := []string{"198.51.100.7", "198.51.100.42", "192.0.2.77", "192.0.2.130"}
	keys := []demoKey{
		{in: apikey.Input{Description: "Production backend", Kind: "private", Environment: "live", Scopes: []string{read, write}},
			createdAt: start, perHour: 420, ips: office},
		{in: apikey.Input{Description: "Billing worker", Kind: "private", Environment: "live", Scopes: []string{write},
			Quota: apikey.QuotaInput{Kind: "month", Limit: "60000"}},
			createdAt: start, perHour: 90, ips: []string{"203.0.113.50"}},
		{in: apikey.Input{Description: "Analytics export (office network only)", Kind: "private", Environment: "live", Scopes: []string{read}, IPs: "203.0.113.0/24"},
			createdAt: start.Add(2 * day), perHour: 60, ips: office},
		// Tightened while in use: what its allowlist would refuse is only
		// reported, until an admin enforces it.
		{in: apikey.Input{Description: "Reporting partner (allowlist in report-only mode)", Kind: "private", Environment: "live", Scopes: []string{read},
			IPs: "198.51.100.0/24", ReportOnly: []string{string(apikey.RestrictIPs)}},
			createdAt: start.Add(4 * day), perHour: 40, ips: []string{"198.51.100.200"}, outside: []string{"192.0.2.10", "192.0.2.11"}},
		{in: apikey.Input{Description: "Staging backend", Kind: "private", Environment: "test", Scopes: []string{read, write}},
			createdAt: start, perHour: 120, ips: []string{"10.20.0.5"}, needs: []string{read}}, // holds a scope it never uses
		{in: apikey.Input{Description: "CI pipeline", Kind: "private", Environment: "test", Scopes: []string{read}},
			createdAt: start.Add(day), perHour: 45, ips: []string{"10.20.0.9"}, unused: 3 * time.Hour},
		{in: apikey.Input{Description: "Marketing site widget", Kind: "public", Environment: "live", Domains: "example.com\n*.example.com"},
			createdAt: start, perHour: 300, ips: browsers},
		{in: apikey.Input{Description: "Docs search", Kind: "public", Environment: "live", Domains: "docs.example.com"},
			createdAt: start.Add(5 * day), perHour: 80, ips: browsers},
		{in: apikey.Input{Description: "Widget preview", Kind: "public", Environment: "test", Domains: "staging.example.com"},
			createdAt: start.Add(3 * day), perHour: 25, ips: browsers},
		{in: apikey.Input{Description: "Partner integration (contract ends soon)", Kind: "private", Environment: "live", Scopes: []string{read},
			ExpiresAt: apikey.ExpiryDate(now.Add(4 * day))},
			createdAt: start, perHour: 70, ips: []string{"198.51.100.200"}},
		{in: apikey.Input{Description: "Old mobile app", Kind: "public", Environment: "live", Domains: "m.example.com", ExpiresIn: 20 * day},
			createdAt: start, perHour: 150, ips: browsers},
		{in: apikey.Input{Description: "Legacy cron job", Kind: "private", Environment: "live", Scopes: []string{read}},
			createdAt: start, revokeAt: hour.Add(-12 * day), perHour: 30, ips: []string{"203.0.113.99"}},
		{in: apikey.Input{Description: "Payments service", Kind: "private", Environment: "live", Scopes: []string{read, write}},
			createdAt: start, rotateAt: hour.Add(-3 * time.Hour), perHour: 200, ips: []string{"203.0.113.60"}},
		{in: apikey.Input{Description: "Load test", Kind: "private", Environment: "test", Scopes: []string{write}},
			createdAt: start.Add(10 * day), revokeAt: hour.Add(-8 * day), perHour: 500, ips: []string{"10.20.0.77"}},
	}

	rng := mrand.New(mrand.NewPCG(uint64(now.UnixNano()), 0x6b6579706c616e65))
	var rows []usage.Hourly
	count := 0
	for _, dk := range keys {
		c, err := at(dk.createdAt).Create(ctx, orgID, "", dk.in, actor)
		if err != nil {
			return 0, 0, fmt.Errorf("demo: create key %q: %w", dk.in.Description, cliError(err))
		}
		count++
		k := c.Key
		end := now
		if d := k.Deadline(); d != nil && d.Before(end) {
			end = *d
		}
		if !dk.revokeAt.IsZero() {
			if _, err := at(dk.revokeAt).Revoke(ctx, orgID, k.ID, actor); err != nil {
				return 0, 0, fmt.Errorf("demo: revoke key: %w", err)
			}
			end = dk.revokeAt
		}
		if !dk.rotateAt.IsZero() {
			next, _, err := at(dk.rotateAt).Rotate(ctx, orgID, k.ID, "24h", "", actor)
			if err != nil {
				return 0, 0, fmt.Errorf("demo: rotate key: %w", err)
			}
			count++
			// Clients move to the new key over the grace period: a trickle
			// stays on the old one.
			rows = append(rows, demoUsage(rng, k, dk, dk.createdAt, dk.rotateAt, start, 1)...)
			rows = append(rows, demoUsage(rng, k, dk, dk.rotateAt, now, start, 0.05)...)
			rows = append(rows, demoUsage(rng, next.Key, dk, dk.rotateAt, now, start, 0.95)...)
			continue
		}
		rows = append(rows, demoUsage(rng, k, dk, dk.createdAt, end.Add(-dk.unused), start, 1)...)
	}

	err := db.WithTx(ctx, func(ctx context.Context) error {
		if err := usage.Write(ctx, db, rows); err != nil {
			return fmt.Errorf("demo: write usage: %w", err)
		}
		if err := demoLastUse(db.Conn(ctx), rng, orgID, rows, keys, now); err != nil {
			return err
		}
		if err := demoSources(db.Conn(ctx), orgID, rows, keys); err != nil {
			return err
		}
		return demoQuotaSpent(db.Conn(ctx), orgID, rows, now)
	})
	return count, len(rows), err
}

// demoScopes picks two everyday scopes from the catalogue, so the demo
// works with a deployment's own KEYPLANE_SCOPES.
func demoScopes(catalogue []string) []string {
	var out []string
	for _, s := range catalogue {
		if s != "admin" && s != "keys:manage" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{"keys:manage"}
	}
	if len(out) > 2 {
		out = out[:2]
	}
	return out
}

// demoUsage returns key k's hourly rows from from to to (clipped to the
// history's start), at share of the key's traffic: busy in UTC working
// hours, quiet at night and on weekends, with a few percent rejected.
func demoUsage(rng *mrand.Rand, k apikey.Key, dk demoKey, from, to, start time.Time, share float64) []usage.Hourly {
	if from.Before(start) {
		from = start
	}
	var rows []usage.Hourly
	for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		f := 0.15
		if hr := h.Hour(); hr >= 8 && hr < 18 {
			f = 1
		} else if hr >= 6 && hr < 21 {
			f = 0.45
		}
		if wd := h.Weekday(); wd == time.Saturday || wd == time.Sunday {
			f *= 0.3
		}
		if k.Environment == apikey.Test {
			f *= 0.5 + rng.Float64() // bursty
		}
		total := int64(dk.perHour * share * f * (0.75 + 0.5*rng.Float64()))
		if total <= 0 {
			continue
		}
		add := func(outcome, scope string, n int64) {
			if n > 0 {
				rows = append(rows, usage.Hourly{KeyID: k.ID, OrgID: k.OrgID, Hour: h, Outcome: outcome, Scope: scope, Count: n})
			}
		}
		rejected := int64(float64(total) * (0.01 + 0.04*rng.Float64()))
		allowed := total - rejected
		needs := dk.needs
		if len(needs) == 0 {
			needs = k.Scopes
		}
		if len(needs) > 1 {
			reads := allowed * 7 / 10
			add(verify.OutcomeAllowed, needs[0], reads)
			add(verify.OutcomeAllowed, needs[1], allowed-reads)
		} else {
			if len(dk.outside) > 0 {
				// A tenth comes from outside the allowlist it only reports.
				outside := allowed / 10
				add(verify.WouldIPNotAllowed, strings.Join(needs, " "), outside)
				allowed -= outside
			}
			add(verify.OutcomeAllowed, strings.Join(needs, " "), allowed)
		}
		// Spread the rejections over the reasons this kind of key meets.
		reasons := []string{verify.CodeRateLimited}
		if k.Kind == apikey.Public {
			reasons = append(reasons, verify.CodeDomainNotAllowed, verify.CodeDomainNotAllowed)
		} else {
			reasons = append(reasons, verify.CodeForbidden, verify.CodeForbidden)
		}
		if len(k.IPs) > 0 {
			reasons = append(reasons, verify.CodeIPNotAllowed)
		}
		byReason := map[string]int64{}
		for range rejected {
			byReason[reasons[rng.IntN(len(reasons))]]++
		}
		for _, reason := range reasons {
			n := byReason[reason]
			delete(byReason, reason)
			scope := ""
			if reason == verify.CodeForbidden {
				scope = "admin" // asked for more than the key holds
			}
			if r, ok := apikey.ParseRestriction(usage.RestrictionOf(reason)); ok && k.ReportOnly().Has(r) {
				reason = usage.WouldPrefix + reason // let through, and counted
			}
			add(reason, scope, n)
		}
	}
	return rows
}

// demoLastUse sets last_used_at, _ip and _origin of every key with usage to
// a moment in its latest hour of traffic.
func demoLastUse(tx *gorm.DB, rng *mrand.Rand, orgID string, rows []usage.Hourly, keys []demoKey, now time.Time) error {
	last := map[string]time.Time{}
	for _, r := range rows {
		if r.Outcome == verify.OutcomeAllowed && r.Hour.After(last[r.KeyID]) {
			last[r.KeyID] = r.Hour
		}
	}
	var stored []apikey.Key
	if err := tx.Where("org_id = ?", orgID).Find(&stored).Error; err != nil {
		return fmt.Errorf("demo: read keys: %w", err)
	}
	for _, k := range stored {
		h, ok := last[k.ID]
		if !ok {
			continue
		}
		at := h.Add(time.Duration(rng.IntN(3600)) * time.Second)
		if at.After(now) {
			at = now.Add(-time.Duration(rng.IntN(60)) * time.Second)
		}
		if k.RevokedAt != nil && at.After(*k.RevokedAt) {
			at = k.RevokedAt.Add(-time.Minute)
		}
		ips := []string{"203.0.113.10"}
		if i := slices.IndexFunc(keys, func(dk demoKey) bool { return dk.in.Description == k.Description }); i >= 0 {
			ips = keys[i].ips
		}
		origin := ""
		if k.Kind == apikey.Public && len(k.Domains) > 0 {
			origin = "https://" + strings.TrimPrefix(k.Domains[0], "*.")
			if strings.Contains(k.Domains[0], "://") {
				origin = k.Domains[0]
			}
		}
		err := tx.Model(&apikey.Key{}).Where("org_id = ? AND id = ?", orgID, k.ID).Updates(map[string]any{
			"last_used_at": at.UTC(), "last_used_ip": ips[rng.IntN(len(ips))], "last_used_origin": origin,
		}).Error
		if err != nil {
			return fmt.Errorf("demo: write last use: %w", err)
		}
	}
	return nil
}

// demoSources writes where each key was used, per day: its addresses (and,
// for a public key, its site's origin), shared out of the day's requests,
// and the addresses outside a report-only allowlist.
func demoSources(tx *gorm.DB, orgID string, rows []usage.Hourly, keys []demoKey) error {
	type day struct {
		keyID string
		day   time.Time
	}
	type count struct {
		all, outside int64
		last         time.Time
	}
	perDay := map[day]*count{}
	for _, r := range rows {
		if r.Outcome != verify.OutcomeAllowed && r.Outcome != verify.WouldIPNotAllowed {
			continue
		}
		d := day{r.KeyID, r.Hour.Truncate(24 * time.Hour)}
		c := perDay[d]
		if c == nil {
			c = &count{}
			perDay[d] = c
		}
		c.all += r.Count
		if r.Outcome == verify.WouldIPNotAllowed {
			c.outside += r.Count
		}
		if end := r.Hour.Add(59 * time.Minute); end.After(c.last) {
			c.last = end
		}
	}
	var stored []apikey.Key
	if err := tx.Where("org_id = ?", orgID).Find(&stored).Error; err != nil {
		return fmt.Errorf("demo: read keys: %w", err)
	}
	byID := map[string]apikey.Key{}
	for _, k := range stored {
		byID[k.ID] = k
	}
	var sources []usage.Source
	for d, c := range perDay {
		k := byID[d.keyID]
		i := slices.IndexFunc(keys, func(dk demoKey) bool { return strings.HasPrefix(k.Description, dk.in.Description) })
		if i < 0 {
			continue
		}
		dk := keys[i]
		add := func(kind, value string, n int64) {
			if n > 0 {
				sources = append(sources, usage.Source{KeyID: k.ID, OrgID: orgID, Day: d.day, Kind: kind, Value: value, Count: n, LastSeen: c.last})
			}
		}
		inside := c.all - c.outside
		for j, ip := range dk.ips {
			share := inside / int64(len(dk.ips))
			if j == 0 {
				share += inside % int64(len(dk.ips))
			}
			add(usage.SourceIP, ip, share)
		}
		for j, ip := range dk.outside {
			share := c.outside / int64(len(dk.outside))
			if j == 0 {
				share += c.outside % int64(len(dk.outside))
			}
			add(usage.SourceIP, ip, share)
			add(usage.SourceWouldIP, ip, share)
		}
		if k.Kind == apikey.Public && len(k.Domains) > 0 {
			add(usage.SourceOrigin, "https://"+strings.TrimPrefix(k.Domains[0], "*."), c.all)
		}
	}
	if err := tx.CreateInBatches(sources, 500).Error; err != nil {
		return fmt.Errorf("demo: write sources: %w", err)
	}
	return nil
}

// demoQuotaSpent writes what the keys with a quota spent this period: one
// for each allowed request since the period began.
func demoQuotaSpent(tx *gorm.DB, orgID string, rows []usage.Hourly, now time.Time) error {
	var stored []apikey.Key
	if err := tx.Where("org_id = ? AND quota_kind IS NOT NULL", orgID).Find(&stored).Error; err != nil {
		return fmt.Errorf("demo: read keys: %w", err)
	}
	for _, k := range stored {
		spec := k.QuotaSpec()
		start, _ := spec.Period(now)
		var spent int64
		for _, r := range rows {
			if r.KeyID == k.ID && !r.Hour.Before(start) && r.Outcome == verify.OutcomeAllowed {
				spent += r.Count
			}
		}
		row := usage.Spent{SubjectID: k.QuotaSubject(), OrgID: orgID, PeriodStart: start, Spent: spent, UpdatedAt: now.UTC()}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("demo: write quota spent: %w", err)
		}
	}
	return nil
}
