// Package idempotency makes the management API's create and rotate safe to
// retry. A request that carries an Idempotency-Key claims it for its
// credential, under a unique key, before it creates anything; the created
// object's id is written into the claim by the transaction that creates it.
// A retry of the same request learns that id (never the secret); a request
// that arrives while the first is running, or with another body, is told
// so.
package idempotency

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// Retention is how long a record is kept: a retry later than this is a new
// request.
const Retention = 24 * time.Hour

// Abandoned is how long a claim may stay without a result before a later
// request with the same key takes it over: the first request died (a crash
// between the claim and its transaction).
const Abandoned = 5 * time.Minute

// MaxKey bounds an Idempotency-Key.
const MaxKey = 255

// Record is a claim as stored.
type Record struct {
	CredentialID   string
	IdempotencyKey string
	RequestHash    []byte
	KeyID          *string
	CreatedAt      time.Time
}

// TableName maps Record to its table.
func (Record) TableName() string { return "api_idempotency" }

// Replay is the error of a request whose idempotency key already created
// KeyID with the same request.
type Replay struct{ KeyID string }

func (e *Replay) Error() string {
	return "idempotency: this request was already made; it created " + e.KeyID
}

// Refusals other than a replay. Both are Conflict (in progress) or Invalid
// (mismatch) application errors, so they read well wherever they land.
var (
	ErrInProgress = apperr.New(apperr.Conflict, "A request with this Idempotency-Key is still running; retry when it has finished.")
	ErrMismatch   = apperr.New(apperr.Invalid, "This Idempotency-Key was used for a different request; use a new key for a new request.")
)

// Service keeps the records. Its methods join the transaction their ctx
// carries (store.DB.WithTx).
type Service struct {
	db  *store.DB
	now func() time.Time
}

// NewService returns a Service; now is its clock (time.Now when nil).
func NewService(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// Hash is the SHA-256 of the parts of a request that must match for a
// retry to be the same request (its method and path, then its body).
func Hash(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return h.Sum(nil)
}

// Do runs create at most once per (credential, key). Without a key it just
// runs create. With one, it first claims the key (committed at once, so
// parallel requests see it), then runs create in a transaction that also
// records the id create returns; when create fails the claim is released,
// since nothing was made. Returns *Replay when the key already made
// something with the same request hash, ErrInProgress while another
// request holds the claim, ErrMismatch for a different request hash, or
// create's error.
func (s *Service) Do(ctx context.Context, credential, key string, hash []byte, create func(ctx context.Context) (string, error)) error {
	if key == "" {
		_, err := create(ctx)
		return err
	}
	if err := s.claim(ctx, credential, key, hash); err != nil {
		return err
	}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		id, err := create(ctx)
		if err != nil {
			return err
		}
		res := s.db.Conn(ctx).Model(&Record{}).
			Where("credential_id = ? AND idempotency_key = ? AND key_id IS NULL", credential, key).
			Update("key_id", id)
		if res.Error != nil {
			return fmt.Errorf("idempotency: complete: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			// Taken over as abandoned meanwhile: let that one win.
			return ErrInProgress
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrInProgress) {
		// Nothing was created: free the key for a retry. A failure here
		// leaves a claim that Abandoned frees later.
		s.db.Conn(context.WithoutCancel(ctx)).
			Where("credential_id = ? AND idempotency_key = ? AND key_id IS NULL", credential, key).
			Delete(&Record{})
	}
	return err
}

// claim inserts the record for (credential, key), or explains why the key
// is taken. Records past Retention are pruned first.
func (s *Service) claim(ctx context.Context, credential, key string, hash []byte) error {
	now := s.now().UTC()
	db := s.db.Conn(ctx)
	if err := db.Where("created_at < ?", now.Add(-Retention)).Delete(&Record{}).Error; err != nil {
		return fmt.Errorf("idempotency: prune: %w", err)
	}
	rec := Record{CredentialID: credential, IdempotencyKey: key, RequestHash: hash, CreatedAt: now}
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rec)
	if res.Error != nil {
		return fmt.Errorf("idempotency: claim: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var got Record
	if err := db.Where("credential_id = ? AND idempotency_key = ?", credential, key).Take(&got).Error; err != nil {
		if store.IsNotFound(err) {
			// Released between our insert and this read: the caller may
			// retry at once.
			return ErrInProgress
		}
		return fmt.Errorf("idempotency: read claim: %w", err)
	}
	switch {
	case string(got.RequestHash) != string(hash):
		return ErrMismatch
	case got.KeyID != nil:
		return &Replay{KeyID: *got.KeyID}
	case got.CreatedAt.Before(now.Add(-Abandoned)):
		// The first request died holding the claim: take it over, unless
		// another request just did.
		res := db.Model(&Record{}).
			Where("credential_id = ? AND idempotency_key = ? AND key_id IS NULL AND created_at < ?", credential, key, now.Add(-Abandoned)).
			Update("created_at", now)
		if res.Error != nil {
			return fmt.Errorf("idempotency: take over: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
	}
	return ErrInProgress
}
