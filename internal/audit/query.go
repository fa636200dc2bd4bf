package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Actions lists every action the audit log records, for filters.
var Actions = []string{
	LoginSucceeded, LoginFailed, ReauthFailed, OrgCreated, OrgDisabled, OrgEnabled,
	MemberAdded, MemberInvited, MemberJoined, MemberRoleChanged, MemberRemoved, MemberDisabled, MemberEnabled, InviteRevoked,
	KeyCreated, KeyUpdated, KeyRevoked, KeyRotated, KeyGraceEnded, KeyDisabled, KeyEnabled, KeysImported, KeyLeaked, KeyCreditsAdded,
	OrgQuotaChanged, OrgCreditsAdded,
	TwoFactorEnabled, TwoFactorDisabled, TwoFactorReset, RecoveryCodeUsed, RecoveryCodesRegenerated, OrgSettingsChanged,
	WebhookCreated, WebhookUpdated, WebhookDeleted, WebhookSecretRotated, WebhookPaused, WebhookResumed,
	KeyRestrictionEnforced, KeyRestrictionReportOnly, KeyRestricted,
}

// Filter narrows an organization's events. Zero fields match everything.
type Filter struct {
	Action string    // exact action
	Actor  string    // case-insensitive substring of the actor's email
	From   time.Time // inclusive
	To     time.Time // exclusive
}

// Cursor is the position of one event in the log's order, newest first by
// (created_at, id).
type Cursor struct {
	At time.Time
	ID string
}

// CursorOf returns the position of e.
func CursorOf(e Event) Cursor { return Cursor{At: e.CreatedAt.UTC(), ID: e.ID} }

// Page selects a page of events: at most Size of them, older than Before,
// newer than After (the page right above it), or the newest when neither is
// set. Before wins over After.
type Page struct {
	Size   int
	Before *Cursor
	After  *Cursor
}

// Result is one page of events, newest first. Older and Newer are the
// cursors to ask for the neighbouring pages, nil at either end.
type Result struct {
	Events []Event
	Older  *Page
	Newer  *Page
}

// MaxPageSize bounds Page.Size.
const MaxPageSize = 500

// Search returns a page of orgID's events matching f, newest first and stable
// by (created_at, id), with the cursors of the neighbouring pages. Admins of
// orgID only: the caller checks the role.
func (s *Service) Search(ctx context.Context, orgID string, f Filter, p Page) (Result, error) {
	size := p.Size
	if size <= 0 || size > MaxPageSize {
		size = 50
	}
	q := filtered(s.db.Conn(ctx), orgID, f)
	backwards := p.Before == nil && p.After != nil
	switch {
	case p.Before != nil:
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", p.Before.At, p.Before.At, p.Before.ID)
	case backwards:
		q = q.Where("(created_at > ? OR (created_at = ? AND id > ?))", p.After.At, p.After.At, p.After.ID)
	}
	if backwards {
		q = q.Order("created_at ASC, id ASC")
	} else {
		q = q.Order("created_at DESC, id DESC")
	}
	var events []Event
	if err := q.Limit(size + 1).Find(&events).Error; err != nil {
		return Result{}, fmt.Errorf("audit: search: %w", err)
	}
	more := len(events) > size
	if more {
		events = events[:size]
	}
	if backwards {
		for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
			events[i], events[j] = events[j], events[i]
		}
	}
	r := Result{Events: events}
	if len(events) == 0 {
		return r, nil
	}
	first, last := CursorOf(events[0]), CursorOf(events[len(events)-1])
	if (backwards && more) || p.Before != nil {
		r.Newer = &Page{Size: size, After: &first}
	}
	if (!backwards && more) || backwards {
		r.Older = &Page{Size: size, Before: &last}
	}
	return r, nil
}

// Each calls fn with orgID's events matching f, newest first, at most max of
// them. It stops at fn's first error and returns it. Admins of orgID only.
func (s *Service) Each(ctx context.Context, orgID string, f Filter, max int, fn func(Event) error) error {
	db := s.db.Conn(ctx)
	rows, err := filtered(db, orgID, f).Order("created_at DESC, id DESC").Limit(max).Rows()
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		if err := db.ScanRows(rows, &e); err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}

// Actors returns the distinct emails of the people who acted in orgID,
// sorted, at most limit. Admins of orgID only.
func (s *Service) Actors(ctx context.Context, orgID string, limit int) ([]string, error) {
	var emails []string
	err := s.db.Conn(ctx).Model(&Event{}).Where("org_id = ? AND actor_email <> ''", orgID).
		Distinct("actor_email").Order("actor_email").Limit(limit).Pluck("actor_email", &emails).Error
	if err != nil {
		return nil, fmt.Errorf("audit: actors: %w", err)
	}
	return emails, nil
}

func filtered(q *gorm.DB, orgID string, f Filter) *gorm.DB {
	q = q.Model(&Event{}).Where("org_id = ?", orgID)
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Actor != "" {
		q = q.Where(`LOWER(actor_email) LIKE ? ESCAPE '\'`, "%"+escapeLike(strings.ToLower(f.Actor))+"%")
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	return q
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
