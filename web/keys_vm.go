package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/usage"
	"keyplane/views/components"
	"keyplane/views/keys"
)

const exactLayout = "2006-01-02 15:04:05 UTC"

// keyRow turns a key into what the list and the key page show.
func keyRow(k apikey.Key, slug string, now time.Time) keys.Row {
	r := keys.Row{
		ID: k.ID, URL: keys.KeyURL(slug, k.ID), Hint: k.Hint, Description: k.Description,
		Kind: string(k.Kind), Environment: string(k.Environment), Status: string(k.StatusAt(now)),
		Scopes: k.Scopes, Domains: k.Domains, IPs: k.IPs, CreatedBy: k.CreatedByEmail,
		CreatedAt: k.CreatedAt.UTC().Format(exactLayout), CreatedAtISO: k.CreatedAt.UTC().Format(time.RFC3339),
		LastUsed: "Never used", LastUsedIP: k.LastUsedIP, LastOrigin: k.LastUsedOrigin,
		RateLimit: rateLimitText(k), Imported: k.Source == apikey.SourceImported,
	}
	if r.CreatedBy == "" {
		r.CreatedBy = "command line"
	}
	switch st := k.StatusAt(now); {
	case st == apikey.Disabled:
		r.CanEnable = true
		r.Disabled = relative(*k.DisabledAt, now)
		r.DisabledExact = k.DisabledAt.UTC().Format(exactLayout)
	case st == apikey.Active || st == apikey.Expiring:
		r.CanDisable = true
	}
	if k.LeakedAt != nil && k.RevokedAt == nil {
		r.Leaked = "Found in public"
		if k.LeakedURL != "" {
			r.Leaked += " at " + k.LeakedURL
		}
		r.Leaked += " on " + k.LeakedAt.UTC().Format("2 January 2006")
		if k.LeakedSource != "" {
			r.Leaked += " (reported by " + k.LeakedSource + ")"
		}
		r.Leaked += "."
		r.LeakedExact = k.LeakedAt.UTC().Format(exactLayout)
	}
	if k.RevokedAt != nil {
		r.Revoked = relative(*k.RevokedAt, now)
		r.RevokedExact = k.RevokedAt.UTC().Format(exactLayout)
	}
	if k.LastUsedAt != nil {
		r.LastUsed = relative(*k.LastUsedAt, now)
		r.LastUsedExact = k.LastUsedAt.UTC().Format(exactLayout)
	}
	if d := k.Deadline(); d != nil && k.RevokedAt == nil {
		r.ExpiryExact = d.UTC().Format(exactLayout)
		if now.Before(*d) {
			r.Expiry = "expires " + relative(*d, now)
		} else {
			r.Expiry = "expired " + relative(*d, now)
		}
	}
	return r
}

// inRotation reports whether k is the old key of a rotation in progress:
// still working in its grace period, its successor working too.
func inRotation(k apikey.Key, successor *apikey.Key, now time.Time) bool {
	if k.ReplacedByID == nil || !k.InGrace(now) || k.StatusAt(now) == apikey.Expired || successor == nil {
		return false
	}
	st := successor.StatusAt(now)
	return st != apikey.Revoked && st != apikey.Expired
}

// withActivity adds a key's recent requests to its row in the list.
func withActivity(r keys.Row, a usage.KeyActivity) keys.Row {
	r.Requests24h = strconv.FormatInt(a.Last24h, 10)
	r.Activity = components.Spark{
		Title:  fmt.Sprintf("Requests per UTC day, last %d days", usage.ActivityDays),
		Values: a.Days[:],
	}
	return r
}

func rateLimitText(k apikey.Key) string {
	if k.RateLimitPerMinute == nil {
		return "none"
	}
	if k.Kind == apikey.Public {
		block := 0
		if k.BlockMinutes != nil {
			block = *k.BlockMinutes
		}
		return fmt.Sprintf("%d per minute per client IP; blocked for %d min when exceeded", *k.RateLimitPerMinute, block)
	}
	return fmt.Sprintf("%d per minute across all client IPs", *k.RateLimitPerMinute)
}

// relative says how far t is from now in words: "3 minutes ago", "in 2 days".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < time.Minute:
		if future {
			return "in less than a minute"
		}
		return "just now"
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	default:
		n, unit = int(math.Round(float64(d)/float64(24*time.Hour))), "day"
	}
	s := strconv.Itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// formValues turns a key back into the form's values, for editing.
func formValues(k apikey.Key) keys.FormValues {
	v := keys.FormValues{
		Description: k.Description, Kind: string(k.Kind), Environment: string(k.Environment),
		Scopes: k.Scopes, Domains: strings.Join(k.Domains, "\n"), IPs: strings.Join(k.IPs, "\n"),
		ReportOnly: k.ReportOnly().List(),
		Quota:      quotaValues(k.QuotaSpec()),
	}
	if k.ExpiresAt != nil {
		v.ExpiresAt = apikey.ExpiryDate(*k.ExpiresAt)
	}
	if k.RateLimitPerMinute != nil {
		v.RateLimit = strconv.Itoa(*k.RateLimitPerMinute)
	}
	if k.BlockMinutes != nil {
		v.BlockMinutes = strconv.Itoa(*k.BlockMinutes)
	}
	return v
}
