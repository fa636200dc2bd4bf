package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 10, "plain"},
		{"abcdef", 3, "abc"},
		{"zür", 2, "z"}, // ü is two bytes: not cut in half
		{"a\xffb", 10, "a\uFFFDb"},
		{"a\x00b", 10, "a\uFFFDb"}, // PostgreSQL refuses NUL in text
		{strings.Repeat("é", 300), 512, strings.Repeat("é", 256)},
	}
	for _, tt := range tests {
		got := Text(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > tt.n {
			t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
