// Package apikey holds Keyplane's API keys: their format, generation and
// hashing, and the service that creates, edits, rotates and revokes them.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unsafe"
)

// Kind is who a key is for: servers (private) or web pages (public).
type Kind string

// The kinds of key.
const (
	Private Kind = "private"
	Public  Kind = "public"
)

// Environment is where a key is meant to be used.
type Environment string

// The environments.
const (
	Live Environment = "live"
	Test Environment = "test"
)

// Lengths of a key's parts.
const (
	RandomLen   = 30
	ChecksumLen = 6
	secretLen   = RandomLen + ChecksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is returned by Parse for anything that is not a well-formed
// key with a valid checksum.
var ErrMalformed = errors.New("apikey: malformed key")

// Parsed is what the shape of a well-formed key tells without a database.
type Parsed struct {
	Kind        Kind
	Environment Environment
}

func kindTag(k Kind) string {
	if k == Public {
		return "pk"
	}
	return "sk"
}

// Generate returns a new key of prefix's default format,
// {prefix}_{sk|pk}_{live|test}_{30 random base62}{6 base62 CRC32 checksum},
// drawing randomness from rnd (crypto/rand when nil).
func Generate(rnd io.Reader, prefix string, kind Kind, env Environment) (string, error) {
	f, err := DefaultFormat(prefix)
	if err != nil {
		return "", fmt.Errorf("apikey: generate: %w", err)
	}
	return f.Generate(rnd, kind, env)
}

// WithSecret returns head followed by RandomLen random base62 characters
// and the CRC32 checksum of all before it: the shape every Keyplane
// credential shares (keys, operator tokens). Randomness comes from rnd
// (crypto/rand when nil).
func WithSecret(rnd io.Reader, head string) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b strings.Builder
	b.Grow(len(head) + secretLen)
	b.WriteString(head)
	buf := make([]byte, 64)
	for n := 0; n < RandomLen; {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("apikey: generate: %w", err)
		}
		for _, c := range buf {
			// 248 = 4*62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && n < RandomLen {
				b.WriteByte(base62[c%62])
				n++
			}
		}
	}
	body := b.String()
	return body + Checksum(body), nil
}

// Checksum returns the CRC32 (IEEE) of s in base62, most significant digit
// first, left-padded with 0 to six characters.
func Checksum(s string) string {
	sum := checksum(s)
	return string(sum[:])
}

// checksum computes Checksum without allocating, for Parse's hot path.
func checksum(s string) [ChecksumLen]byte {
	v := crc32.Update(0, crc32.IEEETable, unsafeBytes(s))
	out := [ChecksumLen]byte{'0', '0', '0', '0', '0', '0'}
	for i := ChecksumLen - 1; i >= 0 && v > 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// Parse checks the shape and checksum of key against prefix's default
// format and returns its kind and environment: Format.Parse of
// DefaultFormat(prefix). It touches no database: garbage and typos end here
// with ErrMalformed.
func Parse(key, prefix string) (Parsed, error) {
	f, err := DefaultFormat(prefix)
	if err != nil {
		return Parsed{}, ErrMalformed
	}
	return f.Parse(key)
}

// HasSecret reports whether s is head followed by a secret as WithSecret
// makes them: base62 characters whose checksum holds.
func HasSecret(s, head string) bool {
	return len(s) == len(head)+secretLen && strings.HasPrefix(s, head) && secretValid(s, len(head))
}

// secretValid reports whether s[start:] is all base62 and s ends with the
// checksum of what comes before it. It does not allocate.
func secretValid(s string, start int) bool {
	for i := start; i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	split := len(s) - ChecksumLen
	sum := checksum(s[:split])
	return string(sum[:]) == s[split:]
}

// unsafeBytes views s as bytes without copying; the bytes are only read.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// Hash returns the SHA-256 of the whole key, the only form in which a key is
// stored.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Hint returns how the dashboard names a key: its kind and environment
// prefix, an ellipsis and the last four characters (kp_sk_live_…a9Qz).
func Hint(key string) string {
	i := strings.LastIndexByte(key, '_')
	if i < 0 || len(key) < 4 {
		return "…"
	}
	return key[:i+1] + "…" + key[len(key)-4:]
}
