package usage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Allowed is the outcome of an allowed request; any other outcome is an
// error code.
const Allowed = "allowed"

// Bucket is the width of one point of a series.
type Bucket int

const (
	// Hour buckets are UTC hours.
	Hour Bucket = iota
	// Day buckets are UTC days.
	Day
)

// start returns the start of the bucket holding t, in UTC.
func (b Bucket) start(t time.Time) time.Time {
	t = t.UTC()
	if b == Day {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

func (b Bucket) next(t time.Time) time.Time {
	if b == Day {
		return t.AddDate(0, 0, 1)
	}
	return t.Add(time.Hour)
}

// Point is one bucket of a series: requests per outcome ("allowed" or an
// error code) in the bucket starting at Start (UTC).
type Point struct {
	Start  time.Time
	Counts map[string]int64
}

// Total is every request of the point, whatever its outcome.
func (p Point) Total() int64 {
	var n int64
	for _, c := range p.Counts {
		n += c
	}
	return n
}

// KeySeries returns the requests of key keyID of orgID, one point per bucket
// from the bucket holding from up to to (excluded), zero-filled and in order.
// A key of another organization yields only zeroes.
func (r *Reader) KeySeries(ctx context.Context, orgID, keyID string, from, to time.Time, bucket Bucket) ([]Point, error) {
	q := bucket.table(r.db.Conn(ctx)).Where("org_id = ? AND key_id = ?", orgID, keyID)
	pts, err := series(q, from, to, bucket)
	if err != nil {
		return nil, fmt.Errorf("usage: key series: %w", err)
	}
	return pts, nil
}

// OrgTotals is KeySeries over every key of orgID.
func (r *Reader) OrgTotals(ctx context.Context, orgID string, from, to time.Time, bucket Bucket) ([]Point, error) {
	q := bucket.table(r.db.Conn(ctx)).Where("org_id = ?", orgID)
	pts, err := series(q, from, to, bucket)
	if err != nil {
		return nil, fmt.Errorf("usage: org totals: %w", err)
	}
	return pts, nil
}

// table is where buckets of b are read: usage_hourly for hours,
// usage_daily (its UTC-day roll-up) for days.
func (b Bucket) table(db *gorm.DB) *gorm.DB {
	if b == Day {
		return db.Model(&Daily{})
	}
	return db.Model(&Hourly{})
}

// column is the time column of b's table.
func (b Bucket) column() string {
	if b == Day {
		return "day"
	}
	return "hour"
}

// series groups q by its time column and outcome in SQL, the same on both
// dialects, and places the rows in zero-filled buckets in Go.
func series(q *gorm.DB, from, to time.Time, bucket Bucket) ([]Point, error) {
	var pts []Point
	if !from.Before(to) {
		return pts, nil
	}
	first := bucket.start(from)
	index := map[int64]int{}
	for t := first; t.Before(to); t = bucket.next(t) {
		index[t.Unix()] = len(pts)
		pts = append(pts, Point{Start: t, Counts: map[string]int64{}})
	}
	if len(pts) == 0 {
		return pts, nil
	}
	var rows []struct {
		At      time.Time
		Outcome string
		Total   int64
	}
	col := bucket.column()
	err := q.Select(col+" AS at, outcome, SUM(count) AS total").
		Where(col+" >= ? AND "+col+" < ?", first, to.UTC()).
		Group(col + ", outcome").
		Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		i, ok := index[bucket.start(r.At).Unix()]
		if !ok {
			continue
		}
		pts[i].Counts[r.Outcome] += r.Total
	}
	return pts, nil
}

// KeyTotal is the requests one key got.
type KeyTotal struct {
	KeyID       string
	Description string
	Hint        string
	Total       int64
}

// TopKeys returns at most n keys of orgID with the most requests on the
// UTC days from the one holding from up to to (excluded), most first; ties
// go by key ID.
func (r *Reader) TopKeys(ctx context.Context, orgID string, from, to time.Time, n int) ([]KeyTotal, error) {
	db := r.db.Conn(ctx)
	var rows []KeyTotal
	// Sum per key first, then name the n winners: grouping by the joined
	// text columns would hash every row's description.
	// Every outcome counts, so the key-day roll-up (one row per key and
	// day) serves.
	totals := db.Model(&KeyDay{}).
		Select("key_id, SUM(count) AS total").
		Where("org_id = ? AND day >= ? AND day < ?", orgID, Day.start(from), to.UTC()).
		Group("key_id").
		Order("total DESC, key_id").
		Limit(n)
	err := db.Table("(?) AS t", totals).
		Select("t.key_id AS key_id, k.description AS description, k.hint AS hint, t.total AS total").
		Joins("JOIN api_keys k ON k.id = t.key_id AND k.org_id = ?", orgID).
		Order("t.total DESC, t.key_id").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: top keys: %w", err)
	}
	return rows, nil
}

// CodeTotal is the requests rejected with one error code.
type CodeTotal struct {
	Code  string
	Total int64
}

// Rejections sums the rejected requests of pts per error code, most
// first; ties go by code. Requests a report-only restriction let through
// (would_<code>) were not rejected.
func Rejections(pts []Point) []CodeTotal {
	sums := map[string]int64{}
	for _, p := range pts {
		for outcome, n := range p.Counts {
			if !Passed(outcome) && n > 0 {
				sums[outcome] += n
			}
		}
	}
	rows := make([]CodeTotal, 0, len(sums))
	for code, n := range sums {
		rows = append(rows, CodeTotal{Code: code, Total: n})
	}
	sortCodes(rows)
	return rows
}

// KeyRejections is a key's rejected requests, by reason.
type KeyRejections struct {
	KeyID       string
	Description string
	Hint        string
	Rejected    int64
	Codes       []CodeTotal // most first; ties go by code
}

// FailingKeys returns at most n keys of orgID with the most rejected
// requests on the UTC days from the one holding from up to to (excluded),
// most first (ties go by key ID), each with its reasons. Requests a
// report-only restriction let through were not rejected.
func (r *Reader) FailingKeys(ctx context.Context, orgID string, from, to time.Time, n int) ([]KeyRejections, error) {
	db := r.db.Conn(ctx)
	perCode := db.Model(&Daily{}).
		Select("key_id, outcome, SUM(count) AS total").
		Where("org_id = ? AND outcome <> ? AND day >= ? AND day < ?", orgID, Allowed, Day.start(from), to.UTC()).
		Group("key_id, outcome")
	var rows []struct {
		KeyID       string
		Outcome     string
		Total       int64
		Description string
		Hint        string
	}
	err := db.Table("(?) AS t", perCode).
		Select("t.key_id AS key_id, t.outcome AS outcome, t.total AS total, k.description AS description, k.hint AS hint").
		Joins("JOIN api_keys k ON k.id = t.key_id AND k.org_id = ?", orgID).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: failing keys: %w", err)
	}
	byKey := map[string]*KeyRejections{}
	var keys []*KeyRejections
	for _, r := range rows {
		if IsWould(r.Outcome) {
			continue
		}
		k := byKey[r.KeyID]
		if k == nil {
			k = &KeyRejections{KeyID: r.KeyID, Description: r.Description, Hint: r.Hint}
			byKey[r.KeyID] = k
			keys = append(keys, k)
		}
		k.Rejected += r.Total
		k.Codes = append(k.Codes, CodeTotal{Code: r.Outcome, Total: r.Total})
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Rejected != keys[j].Rejected {
			return keys[i].Rejected > keys[j].Rejected
		}
		return keys[i].KeyID < keys[j].KeyID
	})
	out := make([]KeyRejections, 0, min(n, len(keys)))
	for _, k := range keys[:min(n, len(keys))] {
		sortCodes(k.Codes)
		out = append(out, *k)
	}
	return out, nil
}

// sortCodes orders code totals most first, ties by code.
func sortCodes(rows []CodeTotal) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Total != rows[j].Total {
			return rows[i].Total > rows[j].Total
		}
		return rows[i].Code < rows[j].Code
	})
}
