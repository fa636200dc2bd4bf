package components

import (
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func renderSpark(t *testing.T, s Spark) *goquery.Selection {
	t.Helper()
	var b strings.Builder
	if err := Sparkline(s).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "style=") || strings.Contains(b.String(), "<script") {
		t.Fatalf("inline style or script: %s", b.String())
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	svg := doc.Find(`svg[data-testid="sparkline"][role="img"]`)
	if svg.Length() != 1 {
		t.Fatalf("no sparkline: %s", b.String())
	}
	if svg.AttrOr("aria-label", "") != s.Label() || svg.Find("title").Text() != s.Label() {
		t.Errorf("aria-label %q, title %q, want %q", svg.AttrOr("aria-label", ""), svg.Find("title").Text(), s.Label())
	}
	if svg.AttrOr("width", "") != "80" || svg.AttrOr("height", "") != "20" || svg.AttrOr("viewBox", "") != "0 0 80 20" {
		t.Errorf("size %q x %q, viewBox %q", svg.AttrOr("width", ""), svg.AttrOr("height", ""), svg.AttrOr("viewBox", ""))
	}
	return svg
}

func TestSparklineNoData(t *testing.T) {
	svg := renderSpark(t, Spark{Title: "Requests per UTC day, last 7 days"})
	if got := svg.AttrOr("aria-label", ""); got != "Requests per UTC day, last 7 days: no data" {
		t.Errorf("label %q", got)
	}
	if svg.Find("polyline, circle").Length() != 0 {
		t.Error("a line without data")
	}
	if svg.Find("line").Length() != 1 {
		t.Error("no baseline")
	}
}

func TestSparklineOneBucket(t *testing.T) {
	svg := renderSpark(t, Spark{Title: "Today", Values: []int64{5}})
	if got := svg.AttrOr("aria-label", ""); got != "Today: 5" {
		t.Errorf("label %q", got)
	}
	if got := svg.Find("polyline").AttrOr("points", ""); got != "2.00,2.00 78.00,2.00" {
		t.Errorf("points %q, want a line across the top", got)
	}
	if c := svg.Find("circle"); c.AttrOr("cx", "") != "78.00" || c.AttrOr("cy", "") != "2.00" {
		t.Errorf("end dot at %q,%q", c.AttrOr("cx", ""), c.AttrOr("cy", ""))
	}
}

func TestSparklineSevenBuckets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []int64
		label  string
		points string
	}{
		{
			"varied", []int64{12, 0, 4, 6, 0, 0, 3},
			"Requests per UTC day, last 7 days: 12, 0, 4, 6, 0, 0, 3",
			"2.00,2.00 14.67,18.00 27.33,12.67 40.00,10.00 52.67,18.00 65.33,18.00 78.00,14.00",
		},
		{
			"all zero", []int64{0, 0, 0, 0, 0, 0, 0},
			"Requests per UTC day, last 7 days: 0, 0, 0, 0, 0, 0, 0",
			"2.00,18.00 14.67,18.00 27.33,18.00 40.00,18.00 52.67,18.00 65.33,18.00 78.00,18.00",
		},
		{
			"one day", []int64{0, 0, 0, 9, 0, 0, 0},
			"Requests per UTC day, last 7 days: 0, 0, 0, 9, 0, 0, 0",
			"2.00,18.00 14.67,18.00 27.33,18.00 40.00,2.00 52.67,18.00 65.33,18.00 78.00,18.00",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := renderSpark(t, Spark{Title: "Requests per UTC day, last 7 days", Values: tc.values})
			if got := svg.AttrOr("aria-label", ""); got != tc.label {
				t.Errorf("label %q, want %q", got, tc.label)
			}
			if got := svg.Find("polyline").AttrOr("points", ""); got != tc.points {
				t.Errorf("points %q, want %q", got, tc.points)
			}
			if c := svg.Find("circle"); c.AttrOr("cx", "") != "78.00" {
				t.Errorf("end dot at x %q, want the last day", c.AttrOr("cx", ""))
			}
		})
	}
}
