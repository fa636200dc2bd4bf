package components

import (
	"sort"
	"strconv"
)

// Chart is a stacked bar chart of requests per outcome, one bar per bucket,
// with a table of the same numbers.
type Chart struct {
	ID    string // the data-testid of the chart and its table
	Title string // the table caption and the chart's accessible name
	Bars  []Bar
}

// Bar is one bucket: its label ("2026-11-23 14:00 UTC") and requests per
// outcome ("allowed" or an error code).
type Bar struct {
	Label  string
	Counts map[string]int64
}

// Total is every request of the bar.
func (b Bar) Total() int64 {
	var n int64
	for _, c := range b.Counts {
		n += c
	}
	return n
}

// Empty reports whether the chart has no request at all.
func (c Chart) Empty() bool {
	for _, b := range c.Bars {
		if b.Total() > 0 {
			return false
		}
	}
	return true
}

// Outcomes are the outcomes present, "allowed" first, then the error codes
// in alphabetical order.
func (c Chart) Outcomes() []string {
	seen := map[string]bool{}
	var codes []string
	for _, b := range c.Bars {
		for o, n := range b.Counts {
			if n > 0 && !seen[o] {
				seen[o] = true
				if o != "allowed" {
					codes = append(codes, o)
				}
			}
		}
	}
	sort.Strings(codes)
	if seen["allowed"] {
		return append([]string{"allowed"}, codes...)
	}
	return codes
}

// outcomeColors are fixed, so an outcome looks the same on every chart.
var outcomeColors = map[string]string{
	"allowed":            "#16a34a",
	"rate_limited":       "#d97706",
	"unauthorized":       "#dc2626",
	"forbidden":          "#9333ea",
	"key_revoked":        "#7f1d1d",
	"key_expired":        "#a16207",
	"key_disabled":       "#57534e",
	"ip_not_allowed":     "#db2777",
	"domain_not_allowed": "#2563eb",
	"anonymous_request":  "#0891b2",
	"unavailable":        "#4b5563",
}

// OutcomeColor is the fill of an outcome; unknown codes are gray.
func OutcomeColor(outcome string) string {
	if c, ok := outcomeColors[outcome]; ok {
		return c
	}
	return "#9ca3af"
}

const (
	chartWidth  = 720
	chartHeight = 200
	chartTop    = 16 // room for the maximum's label
)

// Segment is one outcome of one bar, placed in the SVG.
type Segment struct {
	X, Y, W, H string
	Fill       string
	Title      string
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// Max is the tallest bar's total.
func (c Chart) Max() int64 {
	var m int64
	for _, b := range c.Bars {
		m = max(m, b.Total())
	}
	return m
}

// Segments places every non-zero outcome of every bar, bottom up in the
// order of Outcomes.
func (c Chart) Segments() []Segment {
	m := c.Max()
	if m == 0 || len(c.Bars) == 0 {
		return nil
	}
	outcomes := c.Outcomes()
	slot := float64(chartWidth) / float64(len(c.Bars))
	gap := slot * 0.15
	plot := float64(chartHeight - chartTop)
	var segs []Segment
	for i, b := range c.Bars {
		y := float64(chartHeight)
		for _, o := range outcomes {
			n := b.Counts[o]
			if n == 0 {
				continue
			}
			h := plot * float64(n) / float64(m)
			y -= h
			segs = append(segs, Segment{
				X: num(float64(i)*slot + gap/2), Y: num(y), W: num(slot - gap), H: num(h),
				Fill:  OutcomeColor(o),
				Title: b.Label + ": " + strconv.FormatInt(n, 10) + " " + o,
			})
		}
	}
	return segs
}

func viewBox() string {
	return "0 0 " + strconv.Itoa(chartWidth) + " " + strconv.Itoa(chartHeight)
}
