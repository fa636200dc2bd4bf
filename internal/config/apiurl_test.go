package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAPIURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"https://api.example.com", "https://api.example.com"},
		{" https://api.example.com/ ", "https://api.example.com"},
		{"https://api.example.com/v2/", "https://api.example.com/v2"},
		{"http://localhost:9000", "http://localhost:9000"},
	} {
		got, err := ParseAPIURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAPIURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"api.example.com", "/v1", "ftp://api.example.com", "https://user:pw@api.example.com",
		"https://api.example.com/?x=1", "https://api.example.com/#top", "https://api.example.com?",
		"mailto:ops@example.com", "https://" + strings.Repeat("a", 500) + ".com", "https://%zz",
	} {
		_, err := ParseAPIURL(in)
		var cfgErr *Error
		if !errors.As(err, &cfgErr) || cfgErr.Var != EnvAPIURL {
			t.Errorf("ParseAPIURL(%q) = %v, want an error naming %s", in, err, EnvAPIURL)
		}
		if err != nil && strings.Contains(in, "pw@") && strings.Contains(err.Error(), "pw") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
}

func TestLoadAPIURL(t *testing.T) {
	t.Parallel()
	var got string
	if err := loadAPIURL(func(k string) string {
		if k == EnvAPIURL {
			return "https://api.example.com/"
		}
		return ""
	}, &got); err != nil || got != "https://api.example.com" {
		t.Fatalf("loadAPIURL = %q, %v", got, err)
	}
	got = "unchanged"
	if err := loadAPIURL(func(string) string { return "nope" }, &got); err == nil || got != "unchanged" {
		t.Fatalf("loadAPIURL of a bad value = %q, %v; want an error and dst untouched", got, err)
	}

	// Load reads it with the rest, and refuses a bad value.
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	c, err := Load(env(map[string]string{EnvAPIURL: "https://api.example.com/v2/"}))
	if err != nil || c.APIURL != "https://api.example.com/v2" {
		t.Fatalf("Load: APIURL %q, %v", c.APIURL, err)
	}
	var cfgErr *Error
	if _, err := Load(env(map[string]string{EnvAPIURL: "ftp://x"})); !errors.As(err, &cfgErr) || cfgErr.Var != EnvAPIURL {
		t.Fatalf("Load of a bad %s: %v", EnvAPIURL, err)
	}
}
