package components

import (
	"math"
	"strconv"
	"strings"
)

// Spark is a small line of requests per bucket, the oldest first, sized for
// a table cell.
type Spark struct {
	// Title says what the values are ("Requests per UTC day, last 7
	// days"); with the values it is the line's accessible name.
	Title  string
	Values []int64
}

const (
	sparkWidth  = 80
	sparkHeight = 20
	sparkPad    = 2 // keeps the stroke and the end dot inside the box
)

// Label is the title and every value in order, "Title: 12, 0, 4", or
// "Title: no data" without values.
func (s Spark) Label() string {
	if len(s.Values) == 0 {
		return s.Title + ": no data"
	}
	vals := make([]string, len(s.Values))
	for i, v := range s.Values {
		vals[i] = strconv.FormatInt(v, 10)
	}
	return s.Title + ": " + strings.Join(vals, ", ")
}

// coord is a coordinate to a tenth of a pixel, without trailing zeros: a
// page holds a hundred lines, so every byte counts a hundred times.
func coord(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// SparkPoint is a point of the line in the SVG's coordinates.
type SparkPoint struct{ X, Y string }

// Points places the values from left to right, the largest at the top and
// zero at the bottom. Without requests the line lies flat at the bottom; a
// single value spans the width; without values there is no point.
func (s Spark) Points() []SparkPoint {
	var m int64
	for _, v := range s.Values {
		m = max(m, v)
	}
	y := func(v int64) string {
		bottom := float64(sparkHeight - sparkPad)
		if m <= 0 || v <= 0 {
			return coord(bottom)
		}
		return coord(bottom - float64(sparkHeight-2*sparkPad)*float64(v)/float64(m))
	}
	switch len(s.Values) {
	case 0:
		return nil
	case 1:
		return []SparkPoint{{coord(sparkPad), y(s.Values[0])}, {coord(sparkWidth - sparkPad), y(s.Values[0])}}
	}
	step := float64(sparkWidth-2*sparkPad) / float64(len(s.Values)-1)
	pts := make([]SparkPoint, len(s.Values))
	for i, v := range s.Values {
		pts[i] = SparkPoint{coord(sparkPad + step*float64(i)), y(v)}
	}
	return pts
}

// polyline is points in the form of an SVG points attribute.
func polyline(pts []SparkPoint) string {
	parts := make([]string, len(pts))
	for i, p := range pts {
		parts[i] = p.X + "," + p.Y
	}
	return strings.Join(parts, " ")
}

// baseline is the y of a zero value.
func baseline() string { return coord(sparkHeight - sparkPad) }

func sparkViewBox() string {
	return "0 0 " + strconv.Itoa(sparkWidth) + " " + strconv.Itoa(sparkHeight)
}
