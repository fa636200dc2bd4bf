// Package optoken holds operator tokens: the credentials of the operator
// API (/api/v1/admin/...). A token is shown once; only its SHA-256 is
// stored, with a hint, an optional expiry and IP allowlist, and its last use.
package optoken

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"keyplane/internal/apikey"
)

// Tag marks a token in its text: {prefix}_op_...
const Tag = "op"

const secretLen = apikey.RandomLen + apikey.ChecksumLen

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is returned by Parse for anything that is not a well-formed
// operator token with a valid checksum.
var ErrMalformed = errors.New("optoken: malformed token")

// Generate returns a new token
// {prefix}_op_{30 random base62}{6 base62 CRC32 checksum} (the checksum of
// API keys), drawing randomness from rnd (crypto/rand when nil).
func Generate(rnd io.Reader, prefix string) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(Tag) + 2 + secretLen)
	b.WriteString(prefix + "_" + Tag + "_")
	buf := make([]byte, 64)
	for n := 0; n < apikey.RandomLen; {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("optoken: generate: %w", err)
		}
		for _, c := range buf {
			// 248 = 4*62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && n < apikey.RandomLen {
				b.WriteByte(base62[c%62])
				n++
			}
		}
	}
	body := b.String()
	return body + apikey.Checksum(body), nil
}

// Parse checks the shape and checksum of token for the deployment's
// prefix, touching no database. API keys and garbage end here with
// ErrMalformed.
func Parse(token, prefix string) error {
	head := prefix + "_" + Tag + "_"
	if len(token) != len(head)+secretLen || !strings.HasPrefix(token, head) {
		return ErrMalformed
	}
	for i := len(head); i < len(token); i++ {
		c := token[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return ErrMalformed
		}
	}
	split := len(token) - apikey.ChecksumLen
	if apikey.Checksum(token[:split]) != token[split:] {
		return ErrMalformed
	}
	return nil
}

// Hash returns the SHA-256 of the whole token, the only form in which it
// is stored.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Hint names a token in lists: kp_op_…a9Qz.
func Hint(token string) string { return apikey.Hint(token) }
