package store

import (
	"strings"
	"unicode/utf8"
)

// Text makes s storable in a text column: valid UTF-8 (PostgreSQL refuses
// anything else) and at most n bytes, cut on a rune boundary.
func Text(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
