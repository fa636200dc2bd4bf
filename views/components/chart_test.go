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

func TestBarChartOneBucket(t *testing.T) {
	doc := renderChart(t, Chart{ID: "c", Title: "Requests", Bars: []Bar{
		{Label: "2026-11-23 14:00 UTC", Counts: map[string]int64{"allowed": 120, "rate_limited": 3}},
	}})
	svg := doc.Find(`svg[role="img"]`)
	if svg.AttrOr("aria-label", "") == "" {
		t.Error("no aria-label")
	}
	var titles []string
	svg.Find("rect title").Each(func(_ int, s *goquery.Selection) { titles = append(titles, s.Text()) })
	want := []string{"2026-11-23 14:00 UTC: 120 allowed", "2026-11-23 14:00 UTC: 3 rate_limited"}
	if fmt.Sprint(titles) != fmt.Sprint(want) {
		t.Errorf("titles %q, want %q", titles, want)
	}
	if f := svg.Find("rect").First().AttrOr("fill", ""); f != OutcomeColor("allowed") {
		t.Errorf("allowed fill %q", f)
	}
	table := doc.Find(`table[data-testid="c-table"]`)
	if table.Find("caption").Text() != "Requests" {
		t.Error("no caption")
	}
	var heads []string
	table.Find(`thead th[scope="col"]`).Each(func(_ int, s *goquery.Selection) { heads = append(heads, s.Text()) })
	if fmt.Sprint(heads) != "[Period allowed rate_limited Total]" {
		t.Errorf("heads %v", heads)
	}
	row := table.Find("tbody tr")
	if row.Find(`th[scope="row"]`).Text() != "2026-11-23 14:00 UTC" ||
		row.Find(`[data-outcome="allowed"]`).Text() != "120" ||
		row.Find(`[data-outcome="rate_limited"]`).Text() != "3" ||
		row.Find(`[data-outcome="total"]`).Text() != "123" {
		t.Errorf("row %q", row.Text())
	}
}

func TestBarChartThirtyBuckets(t *testing.T) {
	var bars []Bar
	for i := range 30 {
		bars = append(bars, Bar{Label: fmt.Sprintf("2026-11-%02d", i+1), Counts: map[string]int64{"allowed": int64(i)}})
	}
	doc := renderChart(t, Chart{ID: "c", Title: "Last 30 days", Bars: bars})
	if n := doc.Find("svg[role=img] rect").Length(); n != 29 { // day 1 has no requests
		t.Errorf("%d segments, want 29", n)
	}
	if n := doc.Find("tbody tr").Length(); n != 30 {
		t.Errorf("%d rows, want 30", n)
	}
}
