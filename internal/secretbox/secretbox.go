// Package secretbox encrypts the few secrets Keyplane must read back (TOTP
// seeds), as opposed to those it only compares (passwords, API keys, tokens),
// which are hashed. It seals with AES-256-GCM under a key derived from
// KEYPLANE_ENCRYPTION_KEY, and starts every sealed value with the id of the
// key that sealed it, so a new key can be introduced later while values
// sealed under the old one still open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinKeyLen is the shortest key New accepts, in bytes.
const MinKeyLen = 32

// Key is one encryption key and the id its sealed values carry.
type Key struct {
	ID     byte
	Secret []byte
}

// Box seals with its current key and opens with any key it holds.
type Box struct {
	current byte
	aeads   map[byte]cipher.AEAD
}

// ErrOpen is returned by Open for a value that is damaged, was sealed for
// other associated data, or names a key the Box does not hold.
var ErrOpen = errors.New("secretbox: cannot open value")

// New returns a Box that seals with keys[0] and opens with any of keys.
// Each secret must be at least MinKeyLen bytes, and ids must differ and not
// be 0.
func New(keys ...Key) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	b := &Box{current: keys[0].ID, aeads: make(map[byte]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if k.ID == 0 {
			return nil, errors.New("secretbox: key id 0 is reserved")
		}
		if len(k.Secret) < MinKeyLen {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want at least %d", k.ID, len(k.Secret), MinKeyLen)
		}
		if _, dup := b.aeads[k.ID]; dup {
			return nil, fmt.Errorf("secretbox: key id %d given twice", k.ID)
		}
		// The configured secret may be any text of 32 bytes or more; the
		// AES key is its SHA-256 under a label of this use.
		sum := sha256.Sum256(append([]byte("keyplane secretbox\x00"), k.Secret...))
		block, err := aes.NewCipher(sum[:])
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		b.aeads[k.ID] = aead
	}
	return b, nil
}

// Seal encrypts plaintext under the current key, bound to ad (associated
// data that Open must be given again, such as the id of the row's owner, so
// a value copied to another row does not open). The result is the key id,
// a random nonce and the ciphertext with its tag.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	aead := b.aeads[b.current]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = b.current
	if _, err := rand.Read(out[1:]); err != nil {
		panic("secretbox: no randomness: " + err.Error())
	}
	return aead.Seal(out, out[1:], plaintext, ad)
}

// Open decrypts a value made by Seal with the same ad. Returns ErrOpen when
// the value is damaged, bound to other data, or sealed under a key the Box
// does not hold.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1 {
		return nil, ErrOpen
	}
	aead, ok := b.aeads[sealed[0]]
	if !ok || len(sealed) < 1+aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce := sealed[1 : 1+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[1+aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
