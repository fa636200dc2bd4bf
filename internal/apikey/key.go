package apikey

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"keyplane/internal/quota"
)

// List is a list of strings stored as one newline-separated text column.
type List []string

// Value stores the list.
func (l List) Value() (driver.Value, error) { return strings.Join(l, "\n"), nil }

// Scan reads the list.
func (l *List) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("apikey: scan list from %T", src)
	}
	*l = nil
	if s != "" {
		*l = strings.Split(s, "\n")
	}
	return nil
}

// Key is an API key as stored: everything but the key itself, of which only
// the SHA-256 is kept.
type Key struct {
	ID                 string
	OrgID              string
	Product            string // the product's slug; DefaultProduct for the variables' own
	Source             Source
	ExternalID         string // the platform's own id of an imported key
	KeyHash            []byte
	Hint               string
	Description        string
	Kind               Kind
	Environment        Environment
	Scopes             List
	Domains            List
	IPs                List `gorm:"column:ips"`
	RateLimitPerMinute *int
	BlockMinutes       *int
	ExpiresAt          *time.Time
	CreatedByID        *string
	CreatedByEmail     string
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastUsedAt         *time.Time
	LastUsedIP         string `gorm:"column:last_used_ip"`
	LastUsedOrigin     string
	RevokedAt          *time.Time
	RevokedByID        *string
	DisabledAt         *time.Time
	DisabledByID       *string
	// LeakedAt, LeakedURL and LeakedSource say when, where and by whom the
	// key was found in public (see ReportLeak); LeakedAt is nil otherwise.
	LeakedAt     *time.Time
	LeakedURL    string
	LeakedSource string
	ReplacesID   *string
	ReplacedByID *string
	GraceUntil   *time.Time
	FormToken    *string

	// GraceQuietFrom is set on a rotated key whose grace period ends early
	// once it has had no request for QuietPeriod: the rotation's time
	// (see EndQuietGraces).
	GraceQuietFrom *time.Time

	// The key's own quota (none when QuotaKind is nil), counted under
	// QuotaID: the id of the key whose quota a rotation handed on, or nil
	// for the key's own id (see QuotaSubject).
	quota.Columns
	QuotaID *string

	// Report-only restrictions: a request the restriction would refuse is
	// allowed and counted as would_<code>.
	ReportIPs       bool `gorm:"column:report_ips"`
	ReportDomains   bool
	ReportScopes    bool
	ReportRateLimit bool
	ReportQuota     bool
}

// QuotaSubject is the id the key's quota is counted under.
func (k Key) QuotaSubject() string {
	if k.QuotaID != nil && *k.QuotaID != "" {
		return *k.QuotaID
	}
	return k.ID
}

// Source is where a key came from.
type Source string

// The sources of keys.
const (
	SourceGenerated Source = "generated" // made by Keyplane
	SourceImported  Source = "imported"  // brought from a platform's own key system
)

// TableName maps Key to its table.
func (Key) TableName() string { return "api_keys" }

// Status is a key's state as the dashboard shows it.
type Status string

// The statuses.
const (
	Active   Status = "active"
	Expiring Status = "expiring"
	Expired  Status = "expired"
	Disabled Status = "disabled"
	Revoked  Status = "revoked"
)

// Statuses lists every status, in the order filters offer them.
var Statuses = []Status{Active, Expiring, Expired, Disabled, Revoked}

// ExpiringWithin is how close a deadline makes a key "expiring".
const ExpiringWithin = 7 * 24 * time.Hour

// Deadline returns when the key stops working on its own: the earlier of its
// expiry and the end of its rotation grace period, or nil.
func (k Key) Deadline() *time.Time {
	d := k.ExpiresAt
	if k.GraceUntil != nil && (d == nil || k.GraceUntil.Before(*d)) {
		d = k.GraceUntil
	}
	return d
}

// StatusAt returns the key's status at now, in the data plane's order of
// checks: revoked, expired, disabled.
func (k Key) StatusAt(now time.Time) Status {
	if k.RevokedAt != nil {
		return Revoked
	}
	d := k.Deadline()
	switch {
	case d != nil && !now.Before(*d):
		return Expired
	case k.DisabledAt != nil:
		return Disabled
	case d == nil:
		return Active
	case d.Sub(now) <= ExpiringWithin:
		return Expiring
	}
	return Active
}

// InGrace reports whether the key was rotated and still works until its
// grace deadline.
func (k Key) InGrace(now time.Time) bool {
	return k.RevokedAt == nil && k.GraceUntil != nil && now.Before(*k.GraceUntil)
}

// Editable reports whether the key's settings may still change: not once it
// is revoked, expired or replaced by a rotation.
func (k Key) Editable(now time.Time) bool {
	s := k.StatusAt(now)
	return s != Revoked && s != Expired && k.ReplacedByID == nil
}
