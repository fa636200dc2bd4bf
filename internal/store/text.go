package store

import (
	"strings"
	"unicode/utf8"
)

// Text makes s storable in a text column: valid UTF-8 without NUL bytes
// (PostgreSQL refuses both) and at most n bytes, cut on a rune boundary.
func Text(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
