// Package leak takes reports of API keys found in public: from GitHub's
// secret scanning partner program, whose signed requests it verifies, and
// from the platform's own scanners through the operator API. Each reported
// token is matched by its SHA-256 and handed to the key service, which
// flags the key and applies its organization's leak policy.
package leak

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Errors of Verify.
var (
	// ErrUnsigned is a request without the identifier or signature header.
	ErrUnsigned = errors.New("leak: the request is not signed")
	// ErrBadSignature is a signature that does not verify, or a key
	// identifier GitHub does not publish.
	ErrBadSignature = errors.New("leak: the signature does not verify")
	// ErrKeysUnavailable is GitHub's key list that cannot be fetched: the
	// request cannot be judged, and GitHub retries it later.
	ErrKeysUnavailable = errors.New("leak: GitHub's public keys cannot be fetched")
)

const (
	// fetchTimeout bounds one fetch of the key list.
	fetchTimeout = 5 * time.Second
	// refetchEvery spaces fetches for unknown key identifiers, so a flood
	// of made-up identifiers costs GitHub one request a minute.
	refetchEvery = time.Minute
	// keysTTL is how long a fetched list is trusted before it is fetched
	// again, so a key GitHub withdraws stops verifying.
	keysTTL = 24 * time.Hour
	// failBackoff spaces fetches after one failed: meanwhile requests that
	// need the list answer unavailable (GitHub retries them).
	failBackoff = 5 * time.Second
	// maxKeysBody bounds the key list read.
	maxKeysBody = 1 << 20
)

// GitHubKeys verifies the signatures of GitHub's secret scanning requests
// with the public keys published at URL, fetched when an identifier is
// not known yet and cached by identifier. Safe for concurrent use.
type GitHubKeys struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	lastFetch time.Time
	failedAt  time.Time     // the last failed fetch: the next waits failBackoff
	fetching  chan struct{} // closed when the fetch in flight ends; nil when none
}

// NewGitHubKeys returns a verifier for the key list at url; a nil client
// gets one that ignores proxy variables and gives up after 5 s.
func NewGitHubKeys(url string, client *http.Client, now func() time.Time) *GitHubKeys {
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout, Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: fetchTimeout}}
	}
	if now == nil {
		now = time.Now
	}
	return &GitHubKeys{url: url, client: client, now: now, keys: map[string]*ecdsa.PublicKey{}}
}

// Verify checks that signature (base64 of an ASN.1 ECDSA signature) is the
// signature of body by the key GitHub names keyID. Returns ErrUnsigned,
// ErrBadSignature, or ErrKeysUnavailable when the key list is needed and
// cannot be fetched.
func (g *GitHubKeys) Verify(ctx context.Context, keyID, signature string, body []byte) error {
	if keyID == "" || signature == "" {
		return ErrUnsigned
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(keyID) > 200 {
		return ErrBadSignature
	}
	key, err := g.key(ctx, keyID)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ErrBadSignature
	}
	return nil
}

// key returns the public key of id. The list is fetched when id is not in
// it (at most once every refetchEvery; meanwhile such a request is
// unavailable, which GitHub retries, as a key GitHub has just added may
// be behind it) and when it is older than keysTTL (a key GitHub withdrew
// stops verifying; an outage then keeps the list it has). One fetch runs
// at a time; others wait for it.
func (g *GitHubKeys) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	for {
		g.mu.Lock()
		now := g.now()
		k, known := g.keys[id]
		fresh := !g.lastFetch.IsZero() && now.Sub(g.lastFetch) < keysTTL
		if known && (fresh || g.fetching != nil || now.Sub(g.failedAt) < failBackoff) {
			g.mu.Unlock()
			return k, nil
		}
		if wait := g.fetching; wait != nil {
			g.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ErrKeysUnavailable
			}
		}
		if !known && !g.lastFetch.IsZero() && now.Sub(g.lastFetch) < refetchEvery {
			g.mu.Unlock()
			return nil, ErrKeysUnavailable
		}
		if !known && now.Sub(g.failedAt) < failBackoff {
			g.mu.Unlock()
			return nil, ErrKeysUnavailable
		}
		done := make(chan struct{})
		g.fetching = done
		g.mu.Unlock()

		// Not cancelled with the request that started it: others wait on
		// it too.
		keys, err := g.fetch(context.WithoutCancel(ctx))
		g.mu.Lock()
		g.fetching = nil
		close(done)
		if err != nil {
			g.failedAt = g.now()
			g.mu.Unlock()
			if known {
				return k, nil // the list it has, until GitHub answers again
			}
			return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
		}
		g.lastFetch, g.failedAt = g.now(), time.Time{}
		g.keys = keys // a withdrawn key is gone
		k, ok := g.keys[id]
		g.mu.Unlock()
		if !ok {
			return nil, ErrBadSignature
		}
		return k, nil
	}
}

// keyList is GitHub's published key list.
type keyList struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
	} `json:"public_keys"`
}

func (g *GitHubKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", g.url, resp.StatusCode)
	}
	var list keyList
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBody)).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET %s: %w", g.url, err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range list.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil || k.KeyIdentifier == "" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		if ec, ok := pub.(*ecdsa.PublicKey); ok {
			out[k.KeyIdentifier] = ec
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("GET %s: no ECDSA public key in the list", g.url)
	}
	return out, nil
}
