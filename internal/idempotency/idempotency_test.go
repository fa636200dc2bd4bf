package idempotency

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/clocktest"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// TestDo: the first request runs, the same one again is a replay naming
// its result, another one is a mismatch, a failure frees the key, and a
// record is forgotten after Retention.
func TestDo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
		s := NewService(db, clock.Now)
		runs := 0
		first := store.NewID()
		create := func(id string) func(context.Context) (string, error) {
			return func(context.Context) (string, error) { runs++; return id, nil }
		}
		h1, h2 := Hash([]byte("POST /v1/keys"), []byte(`{"a":1}`)), Hash([]byte("POST /v1/keys"), []byte(`{"a":2}`))
		if err := s.Do(ctx, "cred", "k", h1, create(first)); err != nil {
			t.Fatal(err)
		}
		var replay *Replay
		if err := s.Do(ctx, "cred", "k", h1, create(store.NewID())); !errors.As(err, &replay) || replay.KeyID != first {
			t.Errorf("replay: %v", err)
		}
		if err := s.Do(ctx, "cred", "k", h2, create(store.NewID())); !errors.Is(err, ErrMismatch) {
			t.Errorf("mismatch: %v", err)
		}
		if err := s.Do(ctx, "other", "k", h1, create(store.NewID())); err != nil {
			t.Errorf("another credential: %v", err)
		}
		fail := apperr.New(apperr.Invalid, "no")
		if err := s.Do(ctx, "cred", "f", h1, func(context.Context) (string, error) { return "", fail }); !errors.Is(err, fail) {
			t.Errorf("failure: %v", err)
		}
		if err := s.Do(ctx, "cred", "f", h2, create(store.NewID())); err != nil {
			t.Errorf("after a failure the key is free: %v", err)
		}
		clock.Advance(Retention + time.Second)
		if err := s.Do(ctx, "cred", "k", h2, create(store.NewID())); err != nil {
			t.Errorf("a day later: %v", err)
		}
		if runs != 4 {
			t.Errorf("create ran %d times, want 4", runs)
		}
	})
}

// TestDoConcurrent: parallel requests with one key run create once; the
// others are told it is in progress or replayed.
func TestDoConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := NewService(db, nil)
		var runs atomic.Int32
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Do(context.Background(), "cred", "once", []byte("h"), func(context.Context) (string, error) {
					runs.Add(1)
					time.Sleep(20 * time.Millisecond)
					return store.NewID(), nil
				})
			}()
		}
		wg.Wait()
		if runs.Load() != 1 {
			t.Errorf("create ran %d times, want 1", runs.Load())
		}
		for i, err := range errs {
			var replay *Replay
			if err != nil && !errors.Is(err, ErrInProgress) && !errors.As(err, &replay) {
				t.Errorf("request %d: %v", i, err)
			}
		}
	})
}
