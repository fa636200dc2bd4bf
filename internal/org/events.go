package org

import (
	"context"
	"fmt"
	"time"

	"keyplane/internal/audit"
)

// Events hears of membership changes, for the organization's webhooks.
// Enqueue is called inside the transaction of the change, with its ctx,
// so an event is queued if and only if the change commits; an error rolls
// the change back.
type Events interface {
	Enqueue(ctx context.Context, orgID, typ string, data any) error
}

// WithEvents queues member.added and member.removed through e.
func WithEvents(e Events) Option { return func(s *Service) { s.events = e } }

// MemberEventData is a member as their webhook events carry them: the
// names of the management API's member, the organization and who made the
// change.
type MemberEventData struct {
	ID       string    `json:"id"`
	OrgID    string    `json:"org_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
	Actor    string    `json:"actor"`
}

// memberEvent queues event typ (member.added or member.removed) about
// userID, who has role in orgID since joinedAt, inside the transaction ctx
// carries.
func (s *Service) memberEvent(ctx context.Context, typ, orgID, userID string, role Role, joinedAt time.Time, actor audit.Actor) error {
	if s.events == nil {
		return nil
	}
	var u struct{ Email, Name string }
	if err := s.db.Conn(ctx).Table("users").Select("email, name").Where("id = ?", userID).Take(&u).Error; err != nil {
		return fmt.Errorf("org: %s event: %w", typ, err)
	}
	data := MemberEventData{
		ID: userID, OrgID: orgID, Email: u.Email, Name: u.Name, Role: string(role),
		JoinedAt: joinedAt.UTC(), Actor: actor.Name(),
	}
	if err := s.events.Enqueue(ctx, orgID, typ, data); err != nil {
		return fmt.Errorf("org: %s event: %w", typ, err)
	}
	return nil
}
