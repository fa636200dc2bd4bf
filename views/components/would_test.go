package components

import (
	"fmt"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestChartWouldOutcomes: requests a report-only restriction let through
// are series of their own, in words, after allowed and before the
// refusals; they stack on the allowed panel (they were allowed), in
// colours unlike both.
func TestChartWouldOutcomes(t *testing.T) {
	c := Chart{ID: "c", Title: "Requests", Bars: []Bar{
		{Label: "a", Counts: map[string]int64{"allowed": 100, "would_ip_not_allowed": 20, "would_quota_exceeded": 4, "ip_not_allowed": 3}},
	}}
	if got := fmt.Sprint(c.Outcomes()); got != "[allowed would_ip_not_allowed would_quota_exceeded ip_not_allowed]" {
		t.Errorf("outcomes %s", got)
	}
	ps := c.Panels()
	if fmt.Sprint(ps[0].Keys) != "[allowed would_ip_not_allowed would_quota_exceeded]" || fmt.Sprint(ps[1].Keys) != "[ip_not_allowed]" {
		t.Errorf("panels %v / %v", ps[0].Keys, ps[1].Keys)
	}
	if ps[0].Max < 124 || len(ps[0].Rects) != 3 || len(ps[1].Rects) != 1 {
		t.Errorf("allowed panel max %d with %d bars, rejected %d bars", ps[0].Max, len(ps[0].Rects), len(ps[1].Rects))
	}
	for _, o := range []string{"would_ip_not_allowed", "would_quota_exceeded"} {
		if col := c.SeriesColor(o); col == OutcomeColor("allowed") || col == OutcomeColor("ip_not_allowed") || col == OutcomeColor("made_up") {
			t.Errorf("%s is drawn %s, like another series", o, col)
		}
		if c.SeriesClass(o) != "bar-would" {
			t.Errorf("%s has class %s", o, c.SeriesClass(o))
		}
	}
	for code, want := range map[string]string{
		"would_ip_not_allowed":    "Would be refused: IP address not allowed",
		"would_anonymous_request": "Would be refused: No origin sent",
		"would_forbidden":         "Would be refused: Missing scope",
		"would_quota_exceeded":    "Would be refused: Quota exceeded",
	} {
		if got := OutcomeText(code); got != want {
			t.Errorf("OutcomeText(%s) = %q, want %q", code, got, want)
		}
	}
	doc := renderChart(t, c)
	var legend []string
	doc.Find(`[data-testid="c-legend"] li`).Each(func(_ int, s *goquery.Selection) { legend = append(legend, strings.TrimSpace(s.Text())) })
	if strings.Join(legend, "|") != "Allowed|Would be refused: IP address not allowed|Would be refused: Quota exceeded|IP address not allowed" {
		t.Errorf("legend %q", legend)
	}
	if tip := doc.Find("rect.chart-hit").AttrOr("data-tip", ""); !strings.Contains(tip, "Would be refused: IP address not allowed 20") {
		t.Errorf("tip %q", tip)
	}
	if doc.Find(`td[data-outcome="would_ip_not_allowed"]`).Text() != "20" {
		t.Error("the table has no column of its own for would_ip_not_allowed")
	}
}
