package components

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Chart is a bar chart of requests per bucket, drawn on the server as SVG,
// with a table of the same numbers. Outcome charts (Series empty) have two
// panels, each with its own scale, so rejected requests stay readable
// beside allowed ones; a chart with Series stacks those in one panel.
type Chart struct {
	ID    string // the data-testid of the chart and its table
	Title string // the table caption and the chart's accessible name
	// Axis names the buckets' zone: "Hours in Europe/Paris", "UTC days".
	Axis string
	Bars []Bar
	// Series, when set, are the keys of Bars' Counts in stacking order,
	// with their names and colours; otherwise the series are outcomes.
	Series []Series
}

// Series is one stacked series of a chart.
type Series struct {
	Key   string
	Name  string
	Color string
}

// Bar is one bucket: its label as the table shows it ("2026-11-23 14:00
// CET"), its short form on the axis ("14:00"), and requests per series.
type Bar struct {
	Label  string
	Short  string
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

// Outcomes are the outcomes present, "allowed" first, then the requests
// report-only restrictions let through (would_<code>), then the error
// codes, each in alphabetical order; for a chart with Series, their keys.
func (c Chart) Outcomes() []string {
	if c.Series != nil {
		keys := make([]string, len(c.Series))
		for i, s := range c.Series {
			keys[i] = s.Key
		}
		return keys
	}
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
	sort.Slice(codes, func(i, j int) bool {
		if IsWould(codes[i]) != IsWould(codes[j]) {
			return IsWould(codes[i])
		}
		return codes[i] < codes[j]
	})
	if seen["allowed"] {
		return append([]string{"allowed"}, codes...)
	}
	return codes
}

// SeriesName is what the legend, the table and the tooltips call a series:
// an outcome in words, or the Series' name.
func (c Chart) SeriesName(key string) string {
	for _, s := range c.Series {
		if s.Key == key {
			return s.Name
		}
	}
	return OutcomeText(key)
}

// SeriesColor is the fill of a series.
func (c Chart) SeriesColor(key string) string {
	for _, s := range c.Series {
		if s.Key == key {
			return s.Color
		}
	}
	return OutcomeColor(key)
}

// SeriesClass is the class of a series' bars and swatch, which the
// stylesheet uses to keep it visible in dark mode: "bar-" and the outcome,
// or "bar-series" for a chart's own series.
func (c Chart) SeriesClass(key string) string {
	if c.Series != nil {
		return "bar-series"
	}
	if _, ok := outcomeColors[key]; ok {
		return "bar-" + key
	}
	if IsWould(key) {
		return "bar-would"
	}
	return "bar-other"
}

// Tip is bar i as its tooltip says it, in the table's words: its label,
// then each series with requests, then the total.
func (c Chart) Tip(i int) string {
	b := c.Bars[i]
	parts := []string{}
	for _, o := range c.Outcomes() {
		if n := b.Counts[o]; n > 0 {
			parts = append(parts, c.SeriesName(o)+" "+strconv.FormatInt(n, 10))
		}
	}
	if len(parts) == 0 {
		return b.Label + ": no requests"
	}
	return b.Label + ": " + strings.Join(parts, ", ") + "; total " + strconv.FormatInt(b.Total(), 10)
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
	if IsWould(outcome) {
		return wouldColor(outcome)
	}
	if c, ok := outcomeColors[outcome]; ok {
		return c
	}
	return "#9ca3af"
}

// The SVG's coordinate system: a plot area right of the value labels and
// above the time labels, in each panel.
const (
	chartWidth  = 720
	plotLeft    = 48
	plotRight   = 712
	panelGap    = 34 // a panel's time labels and the next panel's title
	panelTitleH = 18
	axisLabelH  = 18
)

// Panel is one scale of the chart: its title, the series it stacks and its
// value gridlines, placed from Top.
type Panel struct {
	Title  string
	Keys   []string
	Top    float64 // the y of the panel's title
	Height float64 // the plot's height
	Max    int64   // the top gridline's value
	Ticks  []Tick
	Rects  []Segment
	Labels []Tick // time labels under the plot
	Base   string // the y of the zero line
	Empty  string // said instead of bars when the panel has no requests
}

// Tick is a gridline (or a time label) and its text.
type Tick struct {
	X, Y string
	Text string
}

// Segment is one series of one bar, placed in the SVG.
type Segment struct {
	X, Y, W, H string
	Fill       string
	Class      string // see SeriesClass
}

// Hit is the focusable, hoverable area of one bucket across every panel.
type Hit struct {
	X, Y, W, H string
	Tip        string
}

func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// Max is the tallest bar's total.
func (c Chart) Max() int64 {
	var m int64
	for _, b := range c.Bars {
		m = max(m, b.Total())
	}
	return m
}

// niceMax returns a round top for a scale reaching m, and its step: 1, 2
// or 5 times a power of ten, in at most 4 steps.
func niceMax(m int64) (top, step int64) {
	if m <= 0 {
		return 1, 1
	}
	raw := float64(m) / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= raw {
			step = int64(math.Max(1, f*p))
			break
		}
	}
	top = (m + step - 1) / step * step
	return top, step
}

// Panels lays the chart out: for outcomes, "Allowed" and "Rejected"
// panels with their own scales, the requests report-only restrictions let
// through stacked on the allowed ones (they were allowed); for Series,
// one panel.
func (c Chart) Panels() []Panel {
	outcomes := c.Outcomes()
	var panels []Panel
	if c.Series != nil {
		panels = []Panel{{Title: "Requests", Keys: outcomes, Height: 150}}
	} else {
		allowed, rejected := []string{"allowed"}, []string(nil)
		for _, o := range outcomes {
			switch {
			case IsWould(o):
				allowed = append(allowed, o)
			case o != "allowed":
				rejected = append(rejected, o)
			}
		}
		panels = []Panel{
			{Title: "Allowed requests", Keys: allowed, Height: 130, Empty: "No allowed requests"},
			{Title: "Rejected requests (own scale)", Keys: rejected, Height: 80, Empty: "No rejected requests"},
		}
	}
	n := len(c.Bars)
	slot := float64(plotRight-plotLeft) / float64(max(n, 1))
	gap := slot * 0.2
	every := max(1, int(math.Ceil(float64(n)/8)))
	y := 0.0
	for pi := range panels {
		p := &panels[pi]
		p.Top = y
		plotTop := y + panelTitleH + 6
		base := plotTop + p.Height
		p.Base = num(base)
		var m int64
		for _, b := range c.Bars {
			var t int64
			for _, k := range p.Keys {
				t += b.Counts[k]
			}
			m = max(m, t)
		}
		top, step := niceMax(m)
		p.Max = top
		for v := int64(0); v <= top; v += step {
			p.Ticks = append(p.Ticks, Tick{Y: num(base - p.Height*float64(v)/float64(top)), Text: compact(v)})
		}
		if m == 0 {
			p.Ticks = p.Ticks[:1]
		}
		for i, b := range c.Bars {
			yy := base
			for _, k := range p.Keys {
				v := b.Counts[k]
				if v == 0 {
					continue
				}
				h := p.Height * float64(v) / float64(top)
				yy -= h
				p.Rects = append(p.Rects, Segment{
					X: num(plotLeft + float64(i)*slot + gap/2), Y: num(yy), W: num(slot - gap), H: num(h), Fill: c.SeriesColor(k), Class: c.SeriesClass(k),
				})
			}
			if i%every == 0 || i == n-1 && n <= 8 {
				short := b.Short
				if short == "" {
					short = b.Label
				}
				p.Labels = append(p.Labels, Tick{X: num(plotLeft + float64(i)*slot + slot/2), Y: num(base + 14), Text: short})
			}
		}
		if m > 0 {
			p.Empty = ""
		}
		y = base + axisLabelH + panelGap - 18
	}
	return panels
}

// Hits are the buckets' focusable areas, each as tall as the chart.
func (c Chart) Hits() []Hit {
	n := len(c.Bars)
	slot := float64(plotRight-plotLeft) / float64(max(n, 1))
	h := c.height()
	hits := make([]Hit, n)
	for i := range c.Bars {
		hits[i] = Hit{X: num(plotLeft + float64(i)*slot), Y: "0", W: num(slot), H: num(h), Tip: c.Tip(i)}
	}
	return hits
}

func (c Chart) height() float64 {
	ps := c.Panels()
	last := ps[len(ps)-1]
	return last.Top + panelTitleH + 6 + last.Height + axisLabelH + 4
}

func (c Chart) viewBox() string {
	return "0 0 " + strconv.Itoa(chartWidth) + " " + num(c.height())
}

// compact writes a value label short: 950, 1.2k, 3M.
func compact(v int64) string {
	switch {
	case v >= 1_000_000:
		return trimZero(float64(v)/1_000_000) + "M"
	case v >= 10_000:
		return trimZero(float64(v)/1_000) + "k"
	}
	return strconv.FormatInt(v, 10)
}

func trimZero(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }
