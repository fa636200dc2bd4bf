package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/usage"
)

// demoCounts is how many rows of each table a database holds.
type demoCounts struct{ users, orgs, members, keys, usage int64 }

func countDemo(t *testing.T, db *store.DB) demoCounts {
	t.Helper()
	var c demoCounts
	for table, n := range map[string]*int64{"users": &c.users, "organizations": &c.orgs, "memberships": &c.members, "api_keys": &c.keys, "usage_hourly": &c.usage} {
		if err := db.Table(table).Count(n).Error; err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
	}
	return c
}

func TestDemo(t *testing.T) {
	getenv := env(t, nil)
	code, out, stderr := runCLI(t, getenv, "", "demo")
	if code != 0 {
		t.Fatalf("demo: exit %d stderr %q", code, stderr)
	}
	pw := regexp.MustCompile(`(?m)^admin@example\.com  (\S{12,})$`).FindStringSubmatch(out)
	if pw == nil || !regexp.MustCompile(`(?m)^member@example\.com  \S{12,}$`).MatchString(out) {
		t.Fatalf("demo output lacks both emails with passwords:\n%s", out)
	}
	if !strings.Contains(out, "http://localhost:8080/login") {
		t.Errorf("demo output lacks the sign-in URL:\n%s", out)
	}

	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: getenv("KEYPLANE_DATA_DIR")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := account.NewService(db, nil, account.WithHashParams(account.TestHashParams)).Authenticate(ctx, "admin@example.com", pw[1]); err != nil {
		t.Fatalf("printed admin password does not log in: %v", err)
	}
	o, err := org.NewService(db, nil).BySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	var keys []apikey.Key
	if err := db.Where("org_id = ?", o.ID).Find(&keys).Error; err != nil {
		t.Fatal(err)
	}
	if len(keys) < 12 {
		t.Fatalf("%d keys, want at least 12", len(keys))
	}
	seen := map[string]bool{}
	now := time.Now()
	for _, k := range keys {
		seen[string(k.Kind)], seen[string(k.Environment)], seen[string(k.StatusAt(now))] = true, true, true
		if k.ReplacedByID != nil && k.GraceUntil != nil {
			seen["rotated"] = true
		}
		if k.LastUsedAt != nil {
			seen["used"] = true
		}
	}
	for _, want := range []string{"private", "public", "live", "test", "active", "expiring", "expired", "revoked", "rotated", "used"} {
		if !seen[want] {
			t.Errorf("no demo key is %s", want)
		}
	}
	var rows []usage.Hourly
	if err := db.Where("org_id = ?", o.ID).Order("hour").Find(&rows).Error; err != nil || len(rows) == 0 {
		t.Fatalf("usage rows: %d, %v", len(rows), err)
	}
	first, last := rows[0].Hour, rows[len(rows)-1].Hour
	if last.Sub(first) < 29*24*time.Hour {
		t.Errorf("usage spans %s to %s, want at least 29 days", first, last)
	}
	outcomes := map[string]bool{}
	for _, r := range rows {
		outcomes[r.Outcome] = true
	}
	for _, want := range []string{"allowed", "forbidden", "rate_limited", "domain_not_allowed", "ip_not_allowed", "would_ip_not_allowed"} {
		if !outcomes[want] {
			t.Errorf("no usage with outcome %s", want)
		}
	}
	// Some key holds a scope its requests never need, so the key page's
	// hint has something to say.
	needed := map[string]bool{}
	for _, r := range rows {
		for _, sc := range strings.Fields(r.Scope) {
			needed[r.KeyID+"|"+sc] = true
		}
	}
	idle := false
	for _, k := range keys {
		for _, sc := range k.Scopes {
			if !needed[k.ID+"|"+sc] && k.RevokedAt == nil {
				idle = true
			}
		}
	}
	if !idle {
		t.Error("every demo key uses every scope it holds")
	}
	// The roll-ups hold the same totals as the hours.
	var hourly, daily, keyHours, keyDays int64
	for _, q := range []struct {
		table string
		into  *int64
	}{{"usage_hourly", &hourly}, {"usage_daily", &daily}, {"usage_key_hours", &keyHours}, {"usage_key_days", &keyDays}} {
		if err := db.Table(q.table).Where("org_id = ?", o.ID).Select("COALESCE(SUM(count), 0)").Scan(q.into).Error; err != nil {
			t.Fatal(err)
		}
	}
	if hourly == 0 || daily != hourly || keyHours != hourly || keyDays != hourly {
		t.Errorf("requests: %d hourly, %d daily, %d per key and hour, %d per key and day; want all equal", hourly, daily, keyHours, keyDays)
	}

	before := countDemo(t, db)
	code, out, stderr = runCLI(t, getenv, "", "demo")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("second demo: exit %d stderr %q, want 1 with one line naming --force", code, stderr)
	}
	if got := countDemo(t, db); got != before {
		t.Fatalf("refused demo changed the database: %+v, was %+v", got, before)
	}

	code, out, stderr = runCLI(t, getenv, "", "demo", "--force")
	if code != 0 {
		t.Fatalf("demo --force: exit %d stderr %q", code, stderr)
	}
	if !strings.Contains(out, "demo-2") {
		t.Errorf("demo --force output does not name demo-2:\n%s", out)
	}
	if _, err := org.NewService(db, nil).BySlug(ctx, "demo-2"); err != nil {
		t.Fatalf("demo-2: %v", err)
	}
	after := countDemo(t, db)
	if after.users != before.users || after.orgs != before.orgs+1 || after.members != before.members+2 ||
		after.keys <= before.keys || after.usage <= before.usage {
		t.Fatalf("demo --force: counts %+v, was %+v; want users reused and everything else added", after, before)
	}
	if _, err := account.NewService(db, nil, account.WithHashParams(account.TestHashParams)).Authenticate(ctx, "admin@example.com", pw[1]); err != nil {
		t.Fatalf("demo --force changed the admin's password: %v", err)
	}
}
