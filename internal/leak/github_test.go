package leak_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyplane/internal/clocktest"
	"keyplane/internal/leak"
	"keyplane/internal/leak/leaktest"
)

func TestGitHubKeysVerify(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	current := leaktest.NewSigner(t, "kid-current")
	ks := leaktest.NewKeyServer(t, current)
	g := leak.NewGitHubKeys(ks.URL, nil, clock.Now)
	body := []byte(`[{"token":"kp_sk_live_x","type":"keyplane","url":"https://github.com/a/b"}]`)

	if err := g.Verify(ctx, current.ID, current.Sign(t, body), body); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	// The key is cached: a second request does not fetch the list.
	if err := g.Verify(ctx, current.ID, current.Sign(t, body), body); err != nil || ks.Fetches.Load() != 1 {
		t.Fatalf("second verify: %v, %d fetches", err, ks.Fetches.Load())
	}
	for name, tc := range map[string]struct {
		id, sig string
		body    []byte
		want    error
	}{
		"changed body":      {current.ID, current.Sign(t, body), append([]byte(" "), body...), leak.ErrBadSignature},
		"not base64":        {current.ID, "%%%", body, leak.ErrBadSignature},
		"garbage signature": {current.ID, base64.StdEncoding.EncodeToString([]byte("nope")), body, leak.ErrBadSignature},
		"another key signs": {current.ID, leaktest.NewSigner(t, "x").Sign(t, body), body, leak.ErrBadSignature},
		"no identifier":     {"", current.Sign(t, body), body, leak.ErrUnsigned},
		"no signature":      {current.ID, "", body, leak.ErrUnsigned},
	} {
		if err := g.Verify(ctx, tc.id, tc.sig, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	// An unknown identifier fetches the list again, once a minute at most;
	// meanwhile it is unavailable (GitHub retries: the key may be new),
	// and after a fetch that does not list it, refused.
	rotated := leaktest.NewSigner(t, "kid-next")
	ks.Set(0, current, rotated)
	if err := g.Verify(ctx, rotated.ID, rotated.Sign(t, body), body); !errors.Is(err, leak.ErrKeysUnavailable) || ks.Fetches.Load() != 1 {
		t.Errorf("a new identifier within a minute of the last fetch: %v, %d fetches", err, ks.Fetches.Load())
	}
	clock.Advance(61 * time.Second)
	if err := g.Verify(ctx, rotated.ID, rotated.Sign(t, body), body); err != nil {
		t.Errorf("the new key after a minute: %v", err)
	}
	clock.Advance(61 * time.Second)
	if err := g.Verify(ctx, "kid-made-up", current.Sign(t, body), body); !errors.Is(err, leak.ErrBadSignature) {
		t.Errorf("an identifier GitHub does not list: %v", err)
	}

	// A day on, the list is fetched again: a key GitHub withdrew stops
	// verifying, the others go on; with GitHub away, the list in hand
	// still serves.
	ks.Set(0, rotated)
	clock.Advance(25 * time.Hour)
	if err := g.Verify(ctx, current.ID, current.Sign(t, body), body); !errors.Is(err, leak.ErrBadSignature) {
		t.Errorf("a withdrawn key: %v", err)
	}
	ks.Set(http.StatusBadGateway)
	clock.Advance(25 * time.Hour)
	if err := g.Verify(ctx, rotated.ID, rotated.Sign(t, body), body); err != nil {
		t.Errorf("a known key while GitHub is away: %v", err)
	}

	// The list out of reach: unavailable (GitHub retries), never a 401, and
	// a few seconds between attempts.
	down := leaktest.NewKeyServer(t)
	down.Set(http.StatusBadGateway)
	g2 := leak.NewGitHubKeys(down.URL, nil, clock.Now)
	for range 3 {
		if err := g2.Verify(ctx, current.ID, current.Sign(t, body), body); !errors.Is(err, leak.ErrKeysUnavailable) {
			t.Errorf("keys down: %v, want leak.ErrKeysUnavailable", err)
		}
	}
	if down.Fetches.Load() != 1 {
		t.Errorf("%d fetches while down, want 1 within the back-off", down.Fetches.Load())
	}
	down.Set(0, current)
	clock.Advance(6 * time.Second)
	if err := g2.Verify(ctx, current.ID, current.Sign(t, body), body); err != nil {
		t.Errorf("keys back: %v", err)
	}
}

// TestGitHubKeysHang: a key list that never answers costs the request its
// timeout, not more, and concurrent requests wait for the one fetch.
func TestGitHubKeysHang(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g := leak.NewGitHubKeys(srv.URL, &http.Client{Timeout: 200 * time.Millisecond}, nil)
	s := leaktest.NewSigner(t, "kid")
	body := []byte(`[]`)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.Verify(context.Background(), s.ID, s.Sign(t, body), body)
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("verifications against a hung key list took %v", d)
	}
	for i, err := range errs {
		if !errors.Is(err, leak.ErrKeysUnavailable) {
			t.Errorf("request %d: %v, want leak.ErrKeysUnavailable", i, err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for concurrent requests, want 1", n)
	}
}
