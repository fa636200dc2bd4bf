package apikey

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// KeyChange records that a key's verification may have changed.
type KeyChange struct {
	ID        int64
	KeyHash   []byte
	CreatedAt time.Time
}

// TableName maps KeyChange to its table.
func (KeyChange) TableName() string { return "key_changes" }

// recordChange notes, inside tx, that keyHash's verification may have
// changed (or that the key was just created): a row in key_changes, which
// SQLite servers poll for and a reconnecting listener reads again, and on
// PostgreSQL a notification "<change id>:<hex hash>" delivered to every
// server at commit.
func (s *Service) recordChange(tx *gorm.DB, keyHash []byte, now time.Time) error {
	c := KeyChange{KeyHash: keyHash, CreatedAt: now}
	if err := tx.Create(&c).Error; err != nil {
		return fmt.Errorf("apikey: record change: %w", err)
	}
	if s.db.Dialect == store.Postgres {
		payload := strconv.FormatInt(c.ID, 10) + ":" + hex.EncodeToString(keyHash)
		if err := tx.Exec("SELECT pg_notify(?, ?)", store.KeyChangesChannel, payload).Error; err != nil {
			return fmt.Errorf("apikey: notify change: %w", err)
		}
	}
	return nil
}

// announce tells this server's caches of the keys with hashes once the
// transaction in ctx commits, and never if it rolls back.
func (s *Service) announce(ctx context.Context, hashes ...[]byte) {
	s.db.AfterCommit(ctx, func() {
		for _, h := range hashes {
			s.changed(h)
		}
	})
}

// noteChange records, inside tx, that key k changed: for other servers'
// caches, this server's (at commit) and in the audit log
// ("alice@example.com revoked kp_sk_live_…a9Qz (Billing)").
func (s *Service) noteChange(ctx context.Context, tx *gorm.DB, now time.Time, actor audit.Actor, action string, k Key, verb string) error {
	if err := s.recordChange(tx, k.KeyHash, now); err != nil {
		return err
	}
	s.announce(ctx, k.KeyHash)
	return audit.Record(ctx, tx, now, k.OrgID, actor, action, "api_key", k.ID,
		fmt.Sprintf("%s %s %s (%s)", actor.Name(), verb, k.Hint, k.Description))
}
