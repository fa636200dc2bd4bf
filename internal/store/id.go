package store

import (
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new UUIDv7: time-ordered, so indexes stay compact, and
// random enough to be unguessable.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s is a well-formed UUID in its canonical lower-case
// form, so malformed ids in URLs become "not found" without reaching the
// database, alike on PostgreSQL (which would fold case) and SQLite.
func ValidID(s string) bool {
	if len(s) != 36 || strings.ToLower(s) != s {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
