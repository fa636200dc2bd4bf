package store

import "github.com/google/uuid"

// NewID returns a new UUIDv7: time-ordered, so indexes stay compact, and
// random enough to be unguessable.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s is a well-formed UUID, so malformed ids in URLs
// become "not found" without reaching the database.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
