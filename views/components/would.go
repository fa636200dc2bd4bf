package components

import "strings"

// wouldPrefix starts the outcome of a request a report-only restriction
// let through, which it would have refused: would_ip_not_allowed.
const wouldPrefix = "would_"

// IsWould reports whether outcome is a request a report-only restriction
// let through (would_<code>): allowed, but shown apart.
func IsWould(outcome string) bool { return strings.HasPrefix(outcome, wouldPrefix) }

// wouldText is a would_<code> outcome in words: "Would be refused: IP
// address not allowed".
func wouldText(outcome string) string {
	code := strings.TrimPrefix(outcome, wouldPrefix)
	w, ok := outcomeWords[code]
	if !ok {
		// A code without words of its own reads as its words would:
		// quota_exceeded as "Quota exceeded".
		w = strings.ReplaceAll(code, "_", " ")
		if w != "" {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return "Would be refused: " + w
}

// wouldColors are light shades of the refusals' colours, so a request
// only reported looks related to its refusal and unlike both allowed and
// refused requests.
var wouldColors = map[string]string{
	"ip_not_allowed":     "#f472b6",
	"domain_not_allowed": "#60a5fa",
	"anonymous_request":  "#22d3ee",
	"forbidden":          "#c084fc",
	"rate_limited":       "#fbbf24",
	"quota_exceeded":     "#fb923c",
}

// wouldColor is the fill of a would_<code> outcome.
func wouldColor(outcome string) string {
	if c, ok := wouldColors[strings.TrimPrefix(outcome, wouldPrefix)]; ok {
		return c
	}
	return "#a3e635"
}
