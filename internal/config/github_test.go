package config

import (
	"strings"
	"testing"
)

func TestLoadGitHubKeysURL(t *testing.T) {
	load := func(v string) (Config, error) {
		return Load(func(k string) string {
			if k == EnvGitHubKeysURL {
				return v
			}
			return ""
		})
	}
	for v, want := range map[string]string{
		"":                                DefaultGitHubKeysURL,
		"  ":                              DefaultGitHubKeysURL,
		"https://keys.example.com/scan":   "https://keys.example.com/scan",
		"http://127.0.0.1:9000/keys.json": "http://127.0.0.1:9000/keys.json",
		"http://localhost/keys":           "http://localhost/keys",
	} {
		c, err := load(v)
		if err != nil || c.GitHubKeysURL != want {
			t.Errorf("%q: %q, %v; want %q", v, c.GitHubKeysURL, err, want)
		}
	}
	for _, v := range []string{
		"http://keys.example.com/scan", "ftp://example.com/keys", "keys.example.com", "/relative",
		"https://user:pw@example.com/keys", "https://" + strings.Repeat("a", 2000) + ".com",
	} {
		_, err := load(v)
		if err == nil || !strings.Contains(err.Error(), EnvGitHubKeysURL) {
			t.Errorf("%q: %v, want an error naming %s", v, err, EnvGitHubKeysURL)
		}
	}
}
