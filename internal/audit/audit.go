// Package audit keeps the append-only record of who did what: key and member
// changes, logins and failed logins. Events are only ever inserted and read;
// nothing edits or deletes them. They never hold key material or passwords.
package audit

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/store"
)

// Actions recorded in the audit log.
const (
	LoginSucceeded = "login.succeeded"
	LoginFailed    = "login.failed"
	// ReauthFailed is a wrong password given to confirm a sensitive change
	// (a new password) by someone already signed in.
	ReauthFailed = "reauth.failed"
	OrgCreated   = "org.created"
	MemberAdded  = "member.added"
	// OrgDisabled and OrgEnabled are an operator pausing every key of an
	// organization, and undoing it.
	OrgDisabled = "org.disabled"
	OrgEnabled  = "org.enabled"
)

// Actor is who did something, and from where: a signed-in user, an API key
// of the management API (KeyID, KeyHint and KeyDescription), or, with
// neither, the command line.
type Actor struct {
	UserID    string
	Email     string
	IP        string
	UserAgent string
	// KeyID, KeyHint and KeyDescription name the API key that made a
	// change through the management API.
	KeyID          string
	KeyHint        string
	KeyDescription string
	// TokenID and TokenName name the operator token that made a change
	// through the operator API.
	TokenID   string
	TokenName string
	// Program names what acted on its own, on a report or a policy
	// ("GitHub secret scanning", "the leak policy"), when no person did.
	Program string
}

// Name is how summaries name the actor: their email, the API key as
// `kp_sk_live_…a9Qz "CI deployer"`, or the command line when there is
// neither.
func (a Actor) Name() string {
	if l := a.Label(); l != "" {
		return l
	}
	return "keyplane (command line)"
}

// Label is how the audit log stores the actor: the user's email, the API
// key's hint and description, the operator token's name, or "" for the
// command line.
func (a Actor) Label() string {
	switch {
	case a.Email != "":
		return a.Email
	case a.KeyHint != "":
		return a.KeyHint + ` "` + a.KeyDescription + `"`
	case a.TokenName != "":
		return `operator token "` + a.TokenName + `"`
	case a.Program != "":
		return a.Program
	}
	return ""
}

// Event is one audit record.
type Event struct {
	ID         string
	OrgID      *string
	ActorID    *string
	ActorEmail string
	Action     string
	TargetType string
	TargetID   string
	Summary    string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
}

// TableName maps Event to its table.
func (Event) TableName() string { return "audit_events" }

// Record appends an event for orgID (empty: instance-wide) by actor, that
// happened at (the caller's clock), inside tx when the change it describes
// is part of a transaction.
func Record(ctx context.Context, tx *gorm.DB, at time.Time, orgID string, actor Actor, action, targetType, targetID, summary string) error {
	e := Event{
		ID: store.NewID(), ActorEmail: actor.Label(), Action: action,
		TargetType: targetType, TargetID: targetID, Summary: summary,
		IP: actor.IP, UserAgent: store.Text(actor.UserAgent, 512), CreatedAt: at.UTC(),
	}
	if orgID != "" {
		e.OrgID = &orgID
	}
	if actor.UserID != "" {
		e.ActorID = &actor.UserID
	}
	if err := tx.WithContext(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("audit: record %s: %w", action, err)
	}
	return nil
}

// List returns the newest events of orgID, at most limit.
func List(ctx context.Context, db *gorm.DB, orgID string, limit int) ([]Event, error) {
	var events []Event
	err := db.WithContext(ctx).Where("org_id = ?", orgID).Order("created_at DESC, id DESC").Limit(limit).Find(&events).Error
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return events, nil
}

// RecordInUserOrgs appends the same event to every organization userID
// belongs to, at at (logins and failed logins are recorded this way).
func RecordInUserOrgs(ctx context.Context, tx *gorm.DB, at time.Time, userID string, actor Actor, action, targetType, targetID, summary string) error {
	var orgIDs []string
	if err := tx.WithContext(ctx).Table("memberships").Where("user_id = ?", userID).Pluck("org_id", &orgIDs).Error; err != nil {
		return fmt.Errorf("audit: record %s: %w", action, err)
	}
	for _, id := range orgIDs {
		if err := Record(ctx, tx, at, id, actor, action, targetType, targetID, summary); err != nil {
			return err
		}
	}
	return nil
}
