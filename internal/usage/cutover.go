package usage

import (
	"context"
	"fmt"
	"time"
)

// CutoverPoint is one UTC hour of a rotation's cut-over: the requests of
// the old key and of the new key in the hour starting at Start, whatever
// their outcome.
type CutoverPoint struct {
	Start time.Time
	Old   int64
	New   int64
}

// Cutover returns the requests of oldID and newID, two keys of orgID, per
// UTC hour from the hour holding from up to to (excluded): one point per
// hour, zero-filled and in order, read from the key-hour roll-up in one
// query. A key of another organization counts nothing.
func (r *Reader) Cutover(ctx context.Context, orgID, oldID, newID string, from, to time.Time) ([]CutoverPoint, error) {
	first := from.UTC().Truncate(time.Hour)
	var pts []CutoverPoint
	index := map[int64]int{}
	for t := first; t.Before(to); t = t.Add(time.Hour) {
		index[t.Unix()] = len(pts)
		pts = append(pts, CutoverPoint{Start: t})
	}
	if len(pts) == 0 {
		return pts, nil
	}
	var rows []struct {
		KeyID string
		Hour  time.Time
		Total int64
	}
	err := r.db.Conn(ctx).Model(&KeyHour{}).
		Select("key_id, hour, count AS total").
		Where("org_id = ? AND key_id IN ? AND hour >= ? AND hour < ?", orgID, []string{oldID, newID}, first, to.UTC()).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("usage: cutover: %w", err)
	}
	for _, r := range rows {
		i, ok := index[r.Hour.UTC().Truncate(time.Hour).Unix()]
		if !ok {
			continue
		}
		switch r.KeyID {
		case oldID:
			pts[i].Old += r.Total
		case newID:
			pts[i].New += r.Total
		}
	}
	return pts, nil
}
