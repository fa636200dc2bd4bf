// Package optoken holds operator tokens: the credentials of the operator
// API (/api/v1/admin/...). A token is shown once; only its SHA-256 is
// stored, with a hint, an optional expiry and IP allowlist, and its last use.
package optoken

import (
	"errors"
	"io"

	"keyplane/internal/apikey"
)

// Tag marks a token in its text: {prefix}_op_...
const Tag = "op"

// ErrMalformed is returned by Parse for anything that is not a well-formed
// operator token with a valid checksum.
var ErrMalformed = errors.New("optoken: malformed token")

// Generate returns a new token
// {prefix}_op_{30 random base62}{6 base62 CRC32 checksum} (the checksum of
// API keys), drawing randomness from rnd (crypto/rand when nil).
func Generate(rnd io.Reader, prefix string) (string, error) {
	return apikey.WithSecret(rnd, prefix+"_"+Tag+"_")
}

// Parse checks the shape and checksum of token for the deployment's
// prefix, touching no database. API keys and garbage end here with
// ErrMalformed.
func Parse(token, prefix string) error {
	if !apikey.HasSecret(token, prefix+"_"+Tag+"_") {
		return ErrMalformed
	}
	return nil
}

// Hash returns the SHA-256 of the whole token, the only form in which it
// is stored (as for API keys).
func Hash(token string) []byte { return apikey.Hash(token) }

// Hint names a token in lists: kp_op_…a9Qz.
func Hint(token string) string { return apikey.Hint(token) }
