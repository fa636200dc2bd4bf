package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"keyplane/internal/apperr"
)

// Password length bounds, in characters.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// Salt and key lengths of a new hash, in bytes.
const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// HashParams are the argon2id costs of a new password hash. They are never
// read from configuration: production always hashes with OWASP's
// recommendation, and checking a password uses the parameters written in
// its stored hash, whatever they were.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// owaspParams are the argon2id parameters recommended by OWASP: 19 MiB,
// 2 passes, 1 lane.
var owaspParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// TestHashParams are argon2id parameters too cheap for production, for
// tests that create users and sign in: pass WithHashParams(TestHashParams)
// to NewService.
var TestHashParams = HashParams{Memory: 8, Time: 1, Threads: 1}

var b64 = base64.RawStdEncoding

// ValidatePassword returns an Invalid error naming the field "password" when
// pw is shorter than 12 or longer than 128 characters. There are no
// composition rules.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return apperr.InvalidFields(map[string]string{"password": fmt.Sprintf("Use at least %d characters.", MinPasswordLen)})
	case n > MaxPasswordLen:
		return apperr.InvalidFields(map[string]string{"password": fmt.Sprintf("Use at most %d characters.", MaxPasswordLen)})
	}
	return nil
}

// HashPassword returns the argon2id hash of pw as a PHC string, made with
// OWASP's parameters.
func HashPassword(pw string) (string, error) { return hashPassword(pw, owaspParams) }

func hashPassword(pw string, p HashParams) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("account: malformed password hash")

// CheckPassword reports whether pw matches the PHC string phc, comparing in
// constant time. The parameters come from phc, so stronger ones can be
// introduced without breaking stored hashes.
func CheckPassword(pw, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var memory, iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil ||
		memory == 0 || iterations == 0 || threads == 0 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, iterations, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
