package oidc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"time"

	"keyplane/internal/store"
)

// usedState is the state of a finished sign-in, remembered (as its
// SHA-256) until its flow could no longer be finished anyway.
type usedState struct {
	StateHash []byte
	ExpiresAt time.Time
}

// TableName maps usedState to its table.
func (usedState) TableName() string { return "oidc_used_states" }

// pruneEvery is how often consume also deletes expired states.
const pruneEvery = time.Minute

// stateStore remembers used states in the database, so that all servers
// sharing it refuse a state the second time.
type stateStore struct {
	db        *store.DB
	lastPrune atomic.Int64 // unix seconds
}

// consume records state as used until expires. It returns false when the
// state was used already.
func (s *stateStore) consume(ctx context.Context, state string, expires, now time.Time) (bool, error) {
	if last := s.lastPrune.Load(); now.Unix()-last >= int64(pruneEvery.Seconds()) && s.lastPrune.CompareAndSwap(last, now.Unix()) {
		if _, err := s.prune(ctx, now); err != nil {
			return false, err
		}
	}
	sum := sha256.Sum256([]byte(state))
	err := s.db.Conn(ctx).Create(&usedState{StateHash: sum[:], ExpiresAt: expires.UTC()}).Error
	if store.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("oidc: remember state: %w", err)
	}
	return true, nil
}

// prune deletes the states that expired before now.
func (s *stateStore) prune(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.Conn(ctx).Where("expires_at < ?", now.UTC()).Delete(&usedState{})
	if res.Error != nil {
		return 0, fmt.Errorf("oidc: prune states: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PruneStates deletes the remembered states of sign-ins that expired, and
// returns how many. Finish also does it, at most once a minute.
func (c *Client) PruneStates(ctx context.Context) (int64, error) {
	return c.states.prune(ctx, c.now())
}
