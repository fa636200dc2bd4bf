package config

import (
	"net/url"
	"strings"
)

// EnvGitHubKeysURL names where GitHub's secret scanning public keys are
// fetched from; DefaultGitHubKeysURL when unset.
const EnvGitHubKeysURL = "KEYPLANE_GITHUB_KEYS_URL"

// DefaultGitHubKeysURL is GitHub's own list of the keys that sign secret
// scanning requests.
const DefaultGitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// parseGitHubKeysURL reads KEYPLANE_GITHUB_KEYS_URL: unset, or an absolute
// https URL (http only on a loopback host, for tests and local mirrors)
// without user name or password.
func parseGitHubKeysURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultGitHubKeysURL, nil
	}
	if len(v) > 2000 {
		return "", invalid(EnvGitHubKeysURL, "longer than 2000 characters")
	}
	u, err := url.Parse(v)
	switch {
	case err != nil, u.Opaque != "", u.Host == "":
		return "", invalid(EnvGitHubKeysURL, "%q is not an absolute URL such as %s", v, DefaultGitHubKeysURL)
	case u.User != nil:
		return "", invalid(EnvGitHubKeysURL, "leave out the user name and password")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return "", invalid(EnvGitHubKeysURL, "%q: use an https URL (http only on localhost)", v)
	}
	return u.String(), nil
}

func (l *loader) githubKeysURL() (err error) {
	l.c.GitHubKeysURL, err = parseGitHubKeysURL(l.getenv(EnvGitHubKeysURL))
	return err
}
