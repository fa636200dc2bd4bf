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
	if svg.Find("title").Text() != s.Label() {
		t.Errorf("title (the accessible name) %q, want %q", svg.Find("title").Text(), s.Label())
	}
	if svg.AttrOr("width", "") != "80" || svg.AttrOr("height", "") != "20" || svg.AttrOr("viewBox", "") != "0 0 80 20" {
		t.Errorf("size %q x %q, viewBox %q", svg.AttrOr("width", ""), svg.AttrOr("height", ""), svg.AttrOr("viewBox", ""))
	}
	return svg
}

func TestSparklineNoData(t *testing.T) {
	svg := renderSpark(t, Spark{Title: "Requests per UTC day, last 7 days"})
	if got := svg.Find("title").Text(); got != "Requests per UTC day, last 7 days: no data" {
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
	if got := svg.Find("title").Text(); got != "Today: 5" {
		t.Errorf("label %q", got)
	}
	if got := svg.Find("polyline").AttrOr("points", ""); got != "2,2 78,2" {
		t.Errorf("points %q, want a line across the top", got)
	}
	if c := svg.Find("circle"); c.AttrOr("cx", "") != "78" || c.AttrOr("cy", "") != "2" {
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
			"2,2 14.7,18 27.3,12.7 40,10 52.7,18 65.3,18 78,14",
		},
		{
			"all zero", []int64{0, 0, 0, 0, 0, 0, 0},
			"Requests per UTC day, last 7 days: 0, 0, 0, 0, 0, 0, 0",
			"2,18 14.7,18 27.3,18 40,18 52.7,18 65.3,18 78,18",
		},
		{
			"one day", []int64{0, 0, 0, 9, 0, 0, 0},
			"Requests per UTC day, last 7 days: 0, 0, 0, 9, 0, 0, 0",
			"2,18 14.7,18 27.3,18 40,2 52.7,18 65.3,18 78,18",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := renderSpark(t, Spark{Title: "Requests per UTC day, last 7 days", Values: tc.values})
			if got := svg.Find("title").Text(); got != tc.label {
				t.Errorf("label %q, want %q", got, tc.label)
			}
			if got := svg.Find("polyline").AttrOr("points", ""); got != tc.points {
				t.Errorf("points %q, want %q", got, tc.points)
			}
			if c := svg.Find("circle"); c.AttrOr("cx", "") != "78" {
				t.Errorf("end dot at x %q, want the last day", c.AttrOr("cx", ""))
			}
		})
	}
}
