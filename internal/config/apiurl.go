package config

import (
	"net/url"
	"strings"
)

// EnvAPIURL names the platform's API base URL, which the dashboard shows in
// curl examples only: Keyplane never calls it.
const EnvAPIURL = "KEYPLANE_API_URL"

// maxAPIURL bounds KEYPLANE_API_URL, as a product's own api_url is bounded.
const maxAPIURL = 500

// ParseAPIURL reads KEYPLANE_API_URL: empty (unset) or an absolute http or
// https URL without user name, password, query or fragment. The result has
// no trailing slash, so examples can append a path. Returns an *Error
// naming the variable otherwise.
func ParseAPIURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if len(v) > maxAPIURL {
		return "", invalid(EnvAPIURL, "longer than %d characters", maxAPIURL)
	}
	u, err := url.Parse(v)
	switch {
	case err != nil, u.Opaque != "", u.Host == "":
		return "", invalid(EnvAPIURL, "%q is not an absolute URL such as https://api.example.com", v)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", invalid(EnvAPIURL, "%q: use an http or https URL", v)
	case u.User != nil:
		return "", invalid(EnvAPIURL, "leave out the user name and password")
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(v, "?") || strings.HasSuffix(v, "#"):
		return "", invalid(EnvAPIURL, "%q: leave out the query and fragment", v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// loadAPIURL reads KEYPLANE_API_URL through getenv into dst; Load calls it
// as one of its steps.
func loadAPIURL(getenv func(string) string, dst *string) error {
	v, err := ParseAPIURL(getenv(EnvAPIURL))
	if err != nil {
		return err
	}
	*dst = v
	return nil
}
