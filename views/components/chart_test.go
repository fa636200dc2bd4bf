package components

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func renderChart(t *testing.T, c Chart) *goquery.Document {
	t.Helper()
	var b strings.Builder
	if err := BarChart(c).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "style=") || strings.Contains(b.String(), "<script") {
		t.Fatalf("inline style or script: %s", b.String())
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestBarChartEmpty(t *testing.T) {
	for _, bars := range [][]Bar{nil, {{Label: "2026-11-23", Counts: map[string]int64{}}}} {
		doc := renderChart(t, Chart{ID: "c", Title: "Requests", Bars: bars})
		if doc.Find(`[data-testid="c-empty"]`).Length() != 1 || doc.Find("svg, table").Length() != 0 {
			t.Errorf("empty chart: %v", doc.Text())
		}
	}
}

// TestBarChartTipsAgreeWithTable: every bucket's focusable area names the
// table row's label and numbers, in the same words; the legend and the
// table's heads show outcomes in words with the code as a title.
func TestBarChartTipsAgreeWithTable(t *testing.T) {
	doc := renderChart(t, Chart{ID: "c", Title: "Requests", Axis: "Hours in Europe/Paris", Bars: []Bar{
		{Label: "2026-11-23 04:00 CET", Short: "04:00", Counts: map[string]int64{"allowed": 120, "domain_not_allowed": 3}},
		{Label: "2026-11-23 05:00 CET", Short: "05:00", Counts: map[string]int64{}},
	}})
	svg := doc.Find(`svg[data-chart-svg]`)
	if svg.AttrOr("aria-labelledby", "") != "c-title" || doc.Find("#c-title").Text() != "Requests" {
		t.Error("the chart has no accessible name")
	}
	hits := svg.Find(`rect.chart-hit[tabindex="0"]`)
	if hits.Length() != 2 {
		t.Fatalf("%d focusable buckets, want 2", hits.Length())
	}
	want := []string{"2026-11-23 04:00 CET: Allowed 120, Domain not allowed 3; total 123", "2026-11-23 05:00 CET: no requests"}
	hits.Each(func(i int, s *goquery.Selection) {
		if s.AttrOr("data-tip", "") != want[i] || s.AttrOr("aria-label", "") != want[i] || s.Find("title").Text() != want[i] {
			t.Errorf("bucket %d says %q", i, s.AttrOr("data-tip", ""))
		}
		row := doc.Find(fmt.Sprintf(`table tbody tr[data-row="%d"]`, i))
		if label := row.Find("th").Text(); !strings.HasPrefix(s.AttrOr("data-tip", ""), label+": ") {
			t.Errorf("bucket %d's tip %q does not start with its row's label %q", i, s.AttrOr("data-tip", ""), label)
		}
	})
	var heads []string
	doc.Find(`table thead th[scope="col"]`).Each(func(_ int, s *goquery.Selection) { heads = append(heads, s.Text()+"|"+s.AttrOr("title", "")) })
	if fmt.Sprint(heads) != "[Period| Allowed|allowed Domain not allowed|domain_not_allowed Total|]" {
		t.Errorf("heads %v", heads)
	}
	if legend := doc.Find(`[data-testid="c-legend"] li`); legend.Length() != 2 || !strings.Contains(legend.Last().Text(), "Domain not allowed") || legend.Last().AttrOr("title", "") != "domain_not_allowed" {
		t.Errorf("legend %q", legend.Text())
	}
	if !strings.Contains(svg.Text(), "Hours in Europe/Paris") || !strings.Contains(svg.Text(), "04:00") {
		t.Errorf("no time axis: %q", svg.Text())
	}
}

// TestChartPanelsOwnScales: rejected requests get a panel and scale of
// their own, so 3 rejected beside 120 allowed fill that panel.
func TestChartPanelsOwnScales(t *testing.T) {
	c := Chart{Bars: []Bar{{Label: "a", Counts: map[string]int64{"allowed": 120, "rate_limited": 3}}}}
	ps := c.Panels()
	if len(ps) != 2 || ps[0].Max < 120 || ps[0].Max > 200 || ps[1].Max != 3 {
		t.Fatalf("panels %+v", ps)
	}
	if len(ps[1].Rects) != 1 || ps[1].Rects[0].H != num(ps[1].Height) {
		t.Errorf("the rejected bar is %v tall, want the panel's %v", ps[1].Rects, ps[1].Height)
	}
	if len(ps[0].Ticks) < 3 {
		t.Errorf("allowed gridlines %v", ps[0].Ticks)
	}
	// Thirty buckets get at most 8 time labels.
	var bars []Bar
	for i := range 30 {
		bars = append(bars, Bar{Label: fmt.Sprintf("2026-11-%02d", i+1), Short: fmt.Sprintf("Nov %d", i+1), Counts: map[string]int64{"allowed": int64(i)}})
	}
	if n := len(Chart{Bars: bars}.Panels()[0].Labels); n < 4 || n > 8 {
		t.Errorf("%d time labels for 30 days", n)
	}
}

func TestNiceMax(t *testing.T) {
	for _, tc := range []struct{ m, top, step int64 }{{0, 1, 1}, {1, 1, 1}, {3, 3, 1}, {7, 8, 2}, {120, 120, 50 - 20}, {999, 1000, 250 - 50}} {
		top, step := niceMax(tc.m)
		if top < tc.m || top/step > 5 {
			t.Errorf("niceMax(%d) = %d, %d", tc.m, top, step)
		}
	}
}

// TestBarChartInkFollowsTheTheme: text, gridlines and bars carry the
// classes the stylesheet colours (dark mode turns them over), and each
// bar and its legend swatch name their series alike.
func TestBarChartInkFollowsTheTheme(t *testing.T) {
	doc := renderChart(t, Chart{ID: "c", Title: "Requests", Bars: []Bar{
		{Label: "a", Counts: map[string]int64{"allowed": 5, "key_revoked": 1, "made_up": 1}},
	}})
	svg := doc.Find(`svg[data-chart-svg]`)
	if svg.Find("g.chart-text").Length() != 1 || svg.Find("line.chart-grid").Length() == 0 || svg.Find("line.chart-axis").Length() != 2 {
		t.Error("the chart's text, gridlines or axes have no class")
	}
	for _, class := range []string{"bar-allowed", "bar-key_revoked", "bar-other"} {
		if svg.Find("rect."+class).Length() != 1 || doc.Find(`[data-testid="c-legend"] rect.`+class).Length() != 1 {
			t.Errorf("no bar and swatch of class %s", class)
		}
	}
	series := renderChart(t, Chart{ID: "s", Title: "Cut-over", Series: []Series{{Key: "old", Name: "Old", Color: "#b45309"}}, Bars: []Bar{
		{Label: "a", Counts: map[string]int64{"old": 2}},
	}})
	if series.Find(`svg[data-chart-svg] rect.bar-series[fill="#b45309"]`).Length() != 1 {
		t.Error("a chart's own series has no bar-series class")
	}
}
