package usage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"keyplane/internal/store"
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
func KeySeries(ctx context.Context, db *store.DB, orgID, keyID string, from, to time.Time, bucket Bucket) ([]Point, error) {
	q := db.WithContext(ctx).Model(&Hourly{}).Where("org_id = ? AND key_id = ?", orgID, keyID)
	pts, err := series(q, from, to, bucket)
	if err != nil {
		return nil, fmt.Errorf("usage: key series: %w", err)
	}
	return pts, nil
}

// OrgTotals is KeySeries over every key of orgID.
func OrgTotals(ctx context.Context, db *store.DB, orgID string, from, to time.Time, bucket Bucket) ([]Point, error) {
	q := db.WithContext(ctx).Model(&Hourly{}).Where("org_id = ?", orgID)
	pts, err := series(q, from, to, bucket)
	if err != nil {
		return nil, fmt.Errorf("usage: org totals: %w", err)
	}
	return pts, nil
}

// series groups q by hour and outcome in SQL, the same on both dialects,
// and folds the hours into buckets in Go.
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
		Hour    time.Time
		Outcome string
		Total   int64
	}
	err := q.Select("hour, outcome, SUM(count) AS total").
		Where("hour >= ? AND hour < ?", first, to.UTC()).
		Group("hour, outcome").
		Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		i, ok := index[bucket.start(r.Hour).Unix()]
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

// TopKeys returns at most n keys of orgID with the most requests in
// [from, to), most first; ties go by key ID.
func TopKeys(ctx context.Context, db *store.DB, orgID string, from, to time.Time, n int) ([]KeyTotal, error) {
	var rows []KeyTotal
	err := db.WithContext(ctx).Table("usage_hourly AS u").
		Select("u.key_id AS key_id, k.description AS description, k.hint AS hint, SUM(u.count) AS total").
		Joins("JOIN api_keys k ON k.id = u.key_id AND k.org_id = u.org_id").
		Where("u.org_id = ? AND u.hour >= ? AND u.hour < ?", orgID, from.UTC(), to.UTC()).
		Group("u.key_id, k.description, k.hint").
		Order("total DESC, u.key_id").
		Limit(n).
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

// RejectionsByCode returns the requests of orgID in [from, to) rejected
// with each error code, most first; ties go by code.
func RejectionsByCode(ctx context.Context, db *store.DB, orgID string, from, to time.Time) ([]CodeTotal, error) {
	var rows []CodeTotal
	err := db.WithContext(ctx).Model(&Hourly{}).
		Select("outcome AS code, SUM(count) AS total").
		Where("org_id = ? AND outcome <> ? AND hour >= ? AND hour < ?", orgID, Allowed, from.UTC(), to.UTC()).
		Group("outcome").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: rejections: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Total != rows[j].Total {
			return rows[i].Total > rows[j].Total
		}
		return rows[i].Code < rows[j].Code
	})
	return rows, nil
}
