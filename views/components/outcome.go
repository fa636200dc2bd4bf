package components

// outcomeWords say what each data plane outcome means, for people; the
// code stays beside them as secondary text.
var outcomeWords = map[string]string{
	"allowed":            "Allowed",
	"unauthorized":       "Unknown or malformed key",
	"key_revoked":        "Key revoked",
	"key_expired":        "Key expired",
	"key_disabled":       "Key disabled",
	"ip_not_allowed":     "IP address not allowed",
	"domain_not_allowed": "Domain not allowed",
	"anonymous_request":  "No origin sent",
	"forbidden":          "Missing scope",
	"rate_limited":       "Rate limited",
	"unavailable":        "Keyplane unavailable",
}

// OutcomeText is an outcome in words: "Domain not allowed" for
// domain_not_allowed, "Would be refused: Domain not allowed" for
// would_domain_not_allowed; an unknown code is shown as it is.
func OutcomeText(code string) string {
	if IsWould(code) {
		return wouldText(code)
	}
	if w, ok := outcomeWords[code]; ok {
		return w
	}
	return code
}
