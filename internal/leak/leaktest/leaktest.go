// Package leaktest stands in for GitHub in tests of secret scanning: it
// signs request bodies as GitHub does and publishes the public keys at a
// URL, as GitHub's key list.
package leaktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Signer is a key GitHub might publish under ID.
type Signer struct {
	ID  string
	key *ecdsa.PrivateKey
}

// NewSigner returns a new P-256 key named id.
func NewSigner(t testing.TB, id string) Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{ID: id, key: k}
}

// Sign returns the base64 ASN.1 ECDSA signature of body's SHA-256, as
// Github-Public-Key-Signature carries it.
func (s Signer) Sign(t testing.TB, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (s Signer) entry(t testing.TB) map[string]any {
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"key_identifier": s.ID, "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}
}

// KeyServer publishes signers' public keys as GitHub's key list does and
// counts the fetches; with a status set it answers that instead.
type KeyServer struct {
	*httptest.Server
	Fetches atomic.Int64

	mu      sync.Mutex
	signers []Signer
	status  int
}

// NewKeyServer starts a key list of signers, closed when t ends.
func NewKeyServer(t testing.TB, signers ...Signer) *KeyServer {
	t.Helper()
	ks := &KeyServer{signers: signers}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.Fetches.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.status != 0 {
			w.WriteHeader(ks.status)
			return
		}
		list := []map[string]any{}
		for _, s := range ks.signers {
			list = append(list, s.entry(t))
		}
		json.NewEncoder(w).Encode(map[string]any{"public_keys": list})
	}))
	t.Cleanup(ks.Close)
	return ks
}

// Set makes the list answer status (0: the list) with signers' keys.
func (ks *KeyServer) Set(status int, signers ...Signer) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.status, ks.signers = status, signers
}
