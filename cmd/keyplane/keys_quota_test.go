package main

import (
	"strings"
	"testing"

	"keyplane/internal/quota"
)

// storedQuota reads the quota of the key described so.
func storedQuota(t *testing.T, getenv func(string) string, description string) *quota.Spec {
	t.Helper()
	return storedKey(t, getenv, "description = ?", description).QuotaSpec()
}

// TestKeysCreateQuota: keys create takes --quota N --quota-period
// day|month, or --credits N with --refill and --refill-amount; what makes
// no sense is a usage error or the validation's message.
func TestKeysCreateQuota(t *testing.T) {
	getenv := env(t, nil)
	createOrgWithKeys(t, getenv)
	create := func(desc string, flags ...string) (int, string) {
		args := append([]string{"keys", "create", "--org", "acme", "--description", desc}, flags...)
		code, _, stderr := runCLI(t, getenv, "", args...)
		return code, stderr
	}
	if code, stderr := create("Daily", "--quota", "10000", "--quota-period", "day"); code != 0 {
		t.Fatalf("day quota: exit %d %s", code, stderr)
	}
	if q := storedQuota(t, getenv, "Daily"); q == nil || q.Kind != quota.Day || q.Limit != 10000 {
		t.Errorf("day quota stored as %+v", q)
	}
	if code, stderr := create("Prepaid", "--credits", "5000", "--refill", "30d", "--refill-amount", "1000"); code != 0 {
		t.Fatalf("credits: exit %d %s", code, stderr)
	}
	if q := storedQuota(t, getenv, "Prepaid"); q == nil || q.Kind != quota.Credits || q.Limit != 5000 || q.RefillAmount != 1000 || q.Refill != 30*24*3600e9 {
		t.Errorf("credits stored as %+v", q)
	}
	for _, flags := range [][]string{
		{"--quota", "10"},
		{"--quota-period", "day"},
		{"--quota", "10", "--quota-period", "week"},
		{"--quota", "10", "--quota-period", "credits"},
		{"--credits", "10", "--quota", "5", "--quota-period", "day"},
		{"--refill", "1d"},
	} {
		if code, stderr := create("Bad", flags...); code != 2 || stderr == "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d %q, want 2 with one line", flags, code, stderr)
		}
	}
	for _, flags := range [][]string{
		{"--quota", "-5", "--quota-period", "day"},
		{"--quota", "1000000000001", "--quota-period", "month"},
		{"--credits", "10", "--refill", "10s"},
		{"--credits", "ten"},
	} {
		if code, stderr := create("Bad", flags...); code != 1 || !strings.Contains(stderr, "quota") {
			t.Errorf("%v: exit %d %q, want 1 naming the quota", flags, code, stderr)
		}
	}
}
