package api

import "testing"

func TestHasNULEscape(t *testing.T) {
	for body, want := range map[string]bool{
		`{"name": "a\u0000b"}`:      true,
		`{"name": "\u0000"}`:        true,
		`{"name": "a\\u0000b"}`:     false, // a backslash, then the text u0000
		`{"name": "a\\\u0000b"}`:    true,  // a backslash, then NUL
		`{"name": "plain"}`:         false,
		`{"name": "\u00001"}`:       true,
		`{"a": "\\", "b": "u0000"}`: false,
	} {
		if got := hasNULEscape([]byte(body)); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}
