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

// wouldColors are hues next to the refusals' own, unlike both allowed and
// refused requests, each at least 3:1 against the card in light and dark
// (mid shades: luminance about 0.2) so a stacked band stays visible.
var wouldColors = map[string]string{
	"ip_not_allowed":     "#c026d3", // fuchsia-600 beside the refusal's pink
	"domain_not_allowed": "#0284c7", // sky-600 beside blue
	"anonymous_request":  "#0d9488", // teal-600 beside cyan
	"forbidden":          "#8b5cf6", // violet-500 beside purple
	"rate_limited":       "#ea580c", // orange-600 beside amber
	"quota_exceeded":     "#6366f1", // indigo-500
}

// wouldColor is the fill of a would_<code> outcome.
func wouldColor(outcome string) string {
	if c, ok := wouldColors[strings.TrimPrefix(outcome, wouldPrefix)]; ok {
		return c
	}
	return "#a3e635"
}
