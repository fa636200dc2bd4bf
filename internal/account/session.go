package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// Session is a signed-in browser. Only the SHA-256 of its token is stored, so
// a copy of the database does not let anyone sign in.
type Session struct {
	ID         string
	TokenHash  []byte
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
	Data       string
	// PortalOrgID is set on a session started from a portal link: it
	// reaches only that organization's pages. PortalReturnURL is where its
	// "Back to ..." link leads.
	PortalOrgID     *string
	PortalReturnURL string
}

// Portal marks a session as started from a portal link: the organization it
// is confined to and the platform's address to return to.
type Portal struct {
	OrgID     string
	ReturnURL string
}

// lastSeenEvery bounds how often a busy session writes its last-seen time.
const lastSeenEvery = time.Minute

// SessionLimits are the idle timeout and absolute lifetime of sessions.
type SessionLimits struct {
	Idle time.Duration
	Max  time.Duration
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// CreateSession starts a session for userID and returns its secret token,
// which exists only in the cookie.
func (s *Service) CreateSession(ctx context.Context, userID, ip, userAgent string, limits SessionLimits) (string, Session, error) {
	return s.createSession(ctx, userID, ip, userAgent, limits, nil)
}

// CreatePortalSession starts a session for userID as CreateSession does,
// marked as started from a portal link into portal.OrgID.
func (s *Service) CreatePortalSession(ctx context.Context, userID, ip, userAgent string, limits SessionLimits, portal Portal) (string, Session, error) {
	return s.createSession(ctx, userID, ip, userAgent, limits, &portal)
}

func (s *Service) createSession(ctx context.Context, userID, ip, userAgent string, limits SessionLimits, portal *Portal) (string, Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("account: create session: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now().UTC()
	userAgent = store.Text(userAgent, 512)
	sess := Session{
		ID: store.NewID(), TokenHash: hashToken(token), UserID: userID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(limits.Max),
		IP: ip, UserAgent: userAgent, Data: "{}",
	}
	if portal != nil {
		sess.PortalOrgID, sess.PortalReturnURL = &portal.OrgID, portal.ReturnURL
	}
	if err := s.db.Conn(ctx).Create(&sess).Error; err != nil {
		return "", Session{}, fmt.Errorf("account: create session: %w", err)
	}
	return token, sess, nil
}

// LookupSession returns the live session for token together with its user.
// An unknown, idle-expired or past-lifetime session, or one whose user is
// disabled, returns Unauthorized (an expired one is deleted). The last-seen
// time is written at most once a minute.
func (s *Service) LookupSession(ctx context.Context, token string, limits SessionLimits) (Session, User, error) {
	gone := apperr.New(apperr.Unauthorized, "Your session has ended. Please sign in again.")
	if token == "" || len(token) > 100 {
		return Session{}, User{}, gone
	}
	var sess Session
	err := s.db.Conn(ctx).Where("token_hash = ?", hashToken(token)).Take(&sess).Error
	if store.IsNotFound(err) {
		return Session{}, User{}, gone
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("account: lookup session: %w", err)
	}
	now := s.now().UTC()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(limits.Idle)) {
		s.db.Conn(ctx).Where("id = ?", sess.ID).Delete(&Session{})
		return Session{}, User{}, gone
	}
	u, err := s.UserByID(ctx, sess.UserID)
	if apperr.Is(err, apperr.NotFound) {
		return Session{}, User{}, gone
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if u.Disabled() {
		return Session{}, User{}, gone
	}
	if now.Sub(sess.LastSeenAt) >= lastSeenEvery {
		sess.LastSeenAt = now
		if err := s.db.Conn(ctx).Model(&Session{}).Where("id = ?", sess.ID).Update("last_seen_at", now).Error; err != nil {
			return Session{}, User{}, fmt.Errorf("account: touch session: %w", err)
		}
	}
	return sess, u, nil
}

// SaveSessionData stores the session's small data blob (flash messages).
func (s *Service) SaveSessionData(ctx context.Context, id, data string) error {
	if err := s.db.Conn(ctx).Model(&Session{}).Where("id = ?", id).Update("data", data).Error; err != nil {
		return fmt.Errorf("account: save session: %w", err)
	}
	return nil
}

// DeleteSession ends the session with token; a copied cookie stops working.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	if err := s.db.Conn(ctx).Where("token_hash = ?", hashToken(token)).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("account: delete session: %w", err)
	}
	return nil
}

// ListSessions returns the live sessions of userID, most recently seen
// first: those past their absolute lifetime or idle for limits.Idle or longer
// are left out, as LookupSession would refuse them.
func (s *Service) ListSessions(ctx context.Context, userID string, limits SessionLimits) ([]Session, error) {
	now := s.now().UTC()
	var list []Session
	err := s.db.Conn(ctx).Where("user_id = ? AND expires_at > ? AND last_seen_at > ?", userID, now, now.Add(-limits.Idle)).
		Order("last_seen_at DESC, created_at DESC").Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("account: list sessions: %w", err)
	}
	return list, nil
}

// RevokeSession ends the session with id if it belongs to userID. Returns
// NotFound for an unknown id and for another user's session alike.
func (s *Service) RevokeSession(ctx context.Context, userID, id string) error {
	gone := apperr.New(apperr.NotFound, "This session does not exist or has already ended.")
	if !store.ValidID(id) {
		return gone
	}
	res := s.db.Conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
	if res.Error != nil {
		return fmt.Errorf("account: revoke session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return gone
	}
	return nil
}

// DeleteUserSessions ends every session of userID except exceptID (which may
// be empty).
func (s *Service) DeleteUserSessions(ctx context.Context, userID, exceptID string) error {
	q := s.db.Conn(ctx).Where("user_id = ?", userID)
	if exceptID != "" {
		q = q.Where("id <> ?", exceptID)
	}
	if err := q.Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("account: end sessions: %w", err)
	}
	return nil
}

// PruneSessions deletes expired sessions and returns how many went.
func (s *Service) PruneSessions(ctx context.Context, limits SessionLimits) (int64, error) {
	now := s.now().UTC()
	res := s.db.Conn(ctx).Where("expires_at <= ? OR last_seen_at <= ?", now, now.Add(-limits.Idle)).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("account: prune sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
