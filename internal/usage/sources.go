package usage

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"keyplane/internal/store"
)

// Where a key is used: the client addresses and web origins of its
// requests, counted per UTC day beside the usage counts and written with
// them, never per request. Both are bounded, so a flood of spoofed
// addresses or made-up origins costs a fixed amount of memory and rows.
const (
	// SourcesShown is how many addresses and how many origins Sources
	// returns per key, the most used first.
	SourcesShown = 50
	// sourcesPerFlush is how many values of each kind a key keeps per day
	// in one flush; the rest are counted under the value "" (other).
	sourcesPerFlush = SourcesShown
	// sourceRowsPerDay bounds the rows of a key, day and kind in the
	// database: a value not stored yet once the bound is reached is
	// counted under "".
	sourceRowsPerDay = 2 * SourcesShown
	// stripeSources bounds the distinct sources a stripe holds, and
	// keySources those of one key in a stripe; past either, a key's new
	// source is counted as its other source. They bound memory between
	// flushes, and during a database outage, when failed flushes gather in
	// one stripe.
	stripeSources = 4096
	keySources    = 64
	// SourcesKeptFor is how long sources are kept: the key page shows 30
	// days, and a day more covers the day in progress.
	SourcesKeptFor = 31 * 24 * time.Hour
	// maxOriginLen bounds a stored origin.
	maxOriginLen = 300
)

// Source kinds, as stored.
const (
	SourceIP     = "ip"
	SourceOrigin = "origin"
)

// sourceKey is one source of one key's requests on one UTC day: the client
// address (invalid when unknown or other) and the origin as sent ("" for
// none).
type sourceKey struct {
	keyID, orgID string
	day          int64 // Unix seconds of the day's start, UTC
	ip           netip.Addr
	origin       string
	// would is set for requests a report-only restriction would have
	// refused: their address is counted as a would_ip source too.
	would bool
}

type sourceUse struct {
	n    int64
	last time.Time
}

func (u *sourceUse) merge(o sourceUse) {
	u.n += o.n
	if o.last.After(u.last) {
		u.last = o.last
	}
}

// addSource adds u to m[k].
func addSource(m map[sourceKey]sourceUse, k sourceKey, u sourceUse) {
	prev := m[k]
	prev.merge(u)
	m[k] = prev
}

// isOther reports whether k is a key's other source.
func (k sourceKey) isOther() bool { return !k.ip.IsValid() && k.origin == "" }

// originPart is the scheme://host[:port] start of an Origin or Referer
// value, without copying: paths and queries never reach memory's keys,
// the spill file or the database.
func originPart(v string) string {
	i := strings.Index(v, "://")
	if i < 0 {
		return v
	}
	if j := strings.IndexAny(v[i+3:], "/?#"); j >= 0 {
		return v[:i+3+j]
	}
	return v
}

// Source is one row of usage_sources.
type Source struct {
	KeyID    string `gorm:"primaryKey"`
	OrgID    string
	Day      time.Time `gorm:"primaryKey"`
	Kind     string    `gorm:"primaryKey"`
	Value    string    `gorm:"primaryKey"`
	Count    int64
	LastSeen time.Time
}

// TableName maps Source to its table.
func (Source) TableName() string { return "usage_sources" }

// OriginOf returns the origin (scheme://host[:port]) of an Origin or
// Referer header value, lower-cased, or "" when it names none: paths and
// queries are never kept.
func OriginOf(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || v == "null" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return ""
	}
	o := strings.ToLower(u.Scheme + "://" + u.Host)
	if store.Text(o, maxOriginLen) != o {
		return ""
	}
	return o
}

// sourceRows turns gathered sources into rows: per key, day and kind the
// most used values, the rest under "".
func sourceRows(sources map[sourceKey]sourceUse) []Source {
	type group struct {
		keyID, kind string
		day         int64
	}
	type value struct {
		orgID string
		use   sourceUse
	}
	groups := map[group]map[string]value{}
	add := func(k sourceKey, kind, v string, u sourceUse) {
		g := group{keyID: k.keyID, kind: kind, day: k.day}
		m := groups[g]
		if m == nil {
			m = map[string]value{}
			groups[g] = m
		}
		prev := m[v]
		prev.orgID = k.orgID
		prev.use.merge(u)
		m[v] = prev
	}
	for k, u := range sources {
		ip := ""
		if k.ip.IsValid() {
			ip = k.ip.String()
		}
		add(k, SourceIP, ip, u)
		if o := OriginOf(k.origin); o != "" {
			add(k, SourceOrigin, o, u)
		}
		if k.would {
			add(k, SourceWouldIP, ip, u)
		}
	}
	var rows []Source
	for g, m := range groups {
		list := make([]Source, 0, len(m))
		for v, u := range m {
			list = append(list, Source{
				KeyID: g.keyID, OrgID: u.orgID, Day: time.Unix(g.day, 0).UTC(), Kind: g.kind, Value: v,
				Count: u.use.n, LastSeen: u.use.last.UTC().Truncate(time.Second),
			})
		}
		rows = append(rows, foldBeyond(list, sourcesPerFlush, nil)...)
	}
	return rows
}

// foldBeyond keeps the limit most used values of one key, day and kind
// (and those stored already), and counts the others under "".
func foldBeyond(list []Source, limit int, stored map[string]bool) []Source {
	slices.SortFunc(list, func(a, b Source) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	var kept []Source
	other := -1
	fresh := 0
	for _, s := range list {
		switch {
		case s.Value == "" || stored[s.Value]:
		case fresh < limit:
			fresh++
		default:
			s.Value = ""
		}
		if s.Value == "" {
			if other >= 0 {
				kept[other].Count += s.Count
				if s.LastSeen.After(kept[other].LastSeen) {
					kept[other].LastSeen = s.LastSeen
				}
				continue
			}
			other = len(kept)
		}
		kept = append(kept, s)
	}
	return kept
}

// writeSources adds rows to usage_sources in the transaction of ctx,
// keeping each key's rows per day and kind within sourceRowsPerDay.
func writeSources(ctx context.Context, db *store.DB, rows []Source) error {
	if len(rows) == 0 {
		return nil
	}
	type group struct {
		keyID, kind string
		day         time.Time
	}
	byGroup := map[group][]Source{}
	keys := map[string]bool{}
	days := map[time.Time]bool{}
	for _, r := range rows {
		g := group{keyID: r.KeyID, kind: r.Kind, day: r.Day}
		byGroup[g] = append(byGroup[g], r)
		keys[r.KeyID], days[r.Day] = true, true
	}
	stored := map[group]map[string]bool{}
	keyList := make([]string, 0, len(keys))
	for k := range keys {
		keyList = append(keyList, k)
	}
	dayList := make([]time.Time, 0, len(days))
	for d := range days {
		dayList = append(dayList, d)
	}
	tx := db.Conn(ctx)
	for chunk := range slices.Chunk(keyList, 500) {
		var existing []Source
		if err := tx.Select("key_id", "day", "kind", "value").Where("key_id IN ? AND day IN ?", chunk, dayList).Find(&existing).Error; err != nil {
			return fmt.Errorf("usage: read sources: %w", err)
		}
		for _, e := range existing {
			g := group{keyID: e.KeyID, kind: e.Kind, day: e.Day.UTC()}
			if stored[g] == nil {
				stored[g] = map[string]bool{}
			}
			stored[g][e.Value] = true
		}
	}
	var out []Source
	for g, list := range byGroup {
		room := max(0, sourceRowsPerDay-len(stored[g]))
		out = append(out, foldBeyond(list, room, stored[g])...)
	}
	slices.SortFunc(out, func(a, b Source) int {
		return cmp.Or(strings.Compare(a.KeyID, b.KeyID), a.Day.Compare(b.Day), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Value, b.Value))
	})
	later := "GREATEST(usage_sources.last_seen, excluded.last_seen)"
	if db.Dialect != store.Postgres {
		later = "MAX(usage_sources.last_seen, excluded.last_seen)"
	}
	err := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "key_id"}, {Name: "day"}, {Name: "kind"}, {Name: "value"}},
		DoUpdates: clause.Assignments(map[string]any{
			"count":     gorm.Expr("usage_sources.count + excluded.count"),
			"last_seen": gorm.Expr(later),
		}),
	}).CreateInBatches(out, 500).Error
	if err != nil {
		return fmt.Errorf("usage: write sources: %w", err)
	}
	return nil
}

// SourceUse is one address or origin a key's requests came from.
type SourceUse struct {
	Value    string
	Requests int64
	LastSeen time.Time
}

// KeySources is where a key was used: the most used addresses and origins
// (at most SourcesShown each), and the requests whose address is not among
// those listed (other or unknown sources).
type KeySources struct {
	IPs, Origins  []SourceUse
	OtherRequests int64
}

// Sources returns where key keyID of orgID was used since since. A key of
// another organization has no sources.
func (r *Reader) Sources(ctx context.Context, orgID, keyID string, since time.Time) (KeySources, error) {
	var rows []Source
	err := r.db.WithContext(ctx).Where("org_id = ? AND key_id = ? AND kind IN ? AND day >= ?", orgID, keyID, []string{SourceIP, SourceOrigin}, Day.start(since)).
		Find(&rows).Error
	if err != nil {
		return KeySources{}, fmt.Errorf("usage: sources: %w", err)
	}
	sum := map[[2]string]*SourceUse{}
	for _, s := range rows {
		k := [2]string{s.Kind, s.Value}
		u := sum[k]
		if u == nil {
			u = &SourceUse{Value: s.Value}
			sum[k] = u
		}
		u.Requests += s.Count
		if s.LastSeen.After(u.LastSeen) {
			u.LastSeen = s.LastSeen.UTC()
		}
	}
	var out KeySources
	for k, u := range sum {
		switch {
		case k[0] == SourceIP && k[1] == "":
			out.OtherRequests += u.Requests
		case k[0] == SourceIP:
			out.IPs = append(out.IPs, *u)
		case k[1] != "":
			out.Origins = append(out.Origins, *u)
		}
	}
	byUse := func(a, b SourceUse) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Value, b.Value))
	}
	slices.SortFunc(out.IPs, byUse)
	slices.SortFunc(out.Origins, byUse)
	if len(out.IPs) > SourcesShown {
		for _, u := range out.IPs[SourcesShown:] {
			out.OtherRequests += u.Requests
		}
		out.IPs = out.IPs[:SourcesShown]
	}
	if len(out.Origins) > SourcesShown {
		out.Origins = out.Origins[:SourcesShown]
	}
	return out, nil
}

// SinceTime keeps the sources of s last seen at or after t (sources are
// counted per day; their last time says whether they came after t), and
// drops the count of others.
func SinceTime(s KeySources, t time.Time) KeySources {
	keep := func(list []SourceUse) []SourceUse {
		var out []SourceUse
		for _, u := range list {
			if !u.LastSeen.Before(t.Truncate(time.Second)) {
				out = append(out, u)
			}
		}
		return out
	}
	return KeySources{IPs: keep(s.IPs), Origins: keep(s.Origins)}
}
