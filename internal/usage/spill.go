package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"keyplane/internal/store"
)

// Spill files are named spillPrefix + id + spillSuffix. A file being
// written has another name until it is complete, and a file Replay cannot
// read gets badSuffix added.
const (
	spillPrefix  = "usage-spill-"
	spillSuffix  = ".json"
	badSuffix    = ".bad"
	spillVersion = 1
)

// spillFile is the JSON of a spill file: one batch and its id.
type spillFile struct {
	Version   int           `json:"version"`
	ID        string        `json:"id"`
	WrittenAt time.Time     `json:"written_at"`
	Counts    []spillCount  `json:"counts"`
	LastUsed  []spillUse    `json:"last_used"`
	Sources   []spillSource `json:"sources,omitempty"` // absent in files of earlier releases
	Spent     []spillSpent  `json:"spent,omitempty"`   // absent in files of earlier releases
}

// spillSpent is what one quota spent in one period.
type spillSpent struct {
	SubjectID   string    `json:"subject_id"`
	OrgID       string    `json:"org_id"`
	PeriodStart time.Time `json:"period_start"`
	Amount      int64     `json:"amount"`
}

type spillCount struct {
	KeyID   string    `json:"key_id"`
	OrgID   string    `json:"org_id"`
	Hour    time.Time `json:"hour"`
	Outcome string    `json:"outcome"`
	Scope   string    `json:"scope"`
	Count   int64     `json:"count"`
}

type spillUse struct {
	KeyID  string    `json:"key_id"`
	At     time.Time `json:"at"`
	IP     string    `json:"ip,omitempty"`
	Origin string    `json:"origin,omitempty"`
}

// spillSource is one source of a key's requests on one day; IP "" is the
// key's other (or unknown) source.
type spillSource struct {
	KeyID    string    `json:"key_id"`
	OrgID    string    `json:"org_id"`
	Day      time.Time `json:"day"`
	IP       string    `json:"ip,omitempty"`
	Origin   string    `json:"origin,omitempty"`
	Count    int64     `json:"count"`
	LastSeen time.Time `json:"last_seen"`
	Would    bool      `json:"would,omitempty"`
}

// writeSpill writes b under id to a new spill file in dir and returns its
// path. The file is written under a temporary name, synced and renamed, so
// a file with the final name is always complete.
func writeSpill(dir, id string, b batch) (path string, err error) {
	f := spillFile{Version: spillVersion, ID: id, WrittenAt: time.Now().UTC(), Counts: []spillCount{}, LastUsed: []spillUse{}}
	for k, n := range b.counts {
		f.Counts = append(f.Counts, spillCount{KeyID: k.keyID, OrgID: k.orgID, Hour: time.Unix(k.hour, 0).UTC(), Outcome: k.outcome, Scope: k.scope, Count: n})
	}
	for keyID, u := range b.last {
		f.LastUsed = append(f.LastUsed, spillUse{KeyID: keyID, At: u.at.UTC(), IP: ipString(u.ip), Origin: u.origin})
	}
	for k, u := range b.sources {
		f.Sources = append(f.Sources, spillSource{KeyID: k.keyID, OrgID: k.orgID, Day: time.Unix(k.day, 0).UTC(),
			IP: ipString(k.ip), Origin: k.origin, Count: u.n, LastSeen: u.last.UTC(), Would: k.would})
	}
	for k, n := range b.spent {
		f.Spent = append(f.Spent, spillSpent{SubjectID: k.subject, OrgID: k.orgID, PeriodStart: time.Unix(k.period, 0).UTC(), Amount: n})
	}
	data, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+spillPrefix+"*.tmp") // mode 0600
	if err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	path = filepath.Join(dir, spillPrefix+id+spillSuffix)
	if err = os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("usage: spill: %w", err)
	}
	// The rename lasts once the directory is synced; a failure here leaves
	// a complete file, at worst lost with the directory entry.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return path, nil
}

// readSpill reads and checks a spill file.
func readSpill(path string) (string, batch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", batch{}, err
	}
	var f spillFile
	if err := json.Unmarshal(data, &f); err != nil {
		return "", batch{}, err
	}
	if f.Version != spillVersion {
		return "", batch{}, fmt.Errorf("version %d, want %d", f.Version, spillVersion)
	}
	if !store.ValidID(f.ID) {
		return "", batch{}, fmt.Errorf("id %q is not a UUID", f.ID)
	}
	b := newBatch()
	for i, c := range f.Counts {
		switch {
		case !store.ValidID(c.KeyID) || !store.ValidID(c.OrgID):
			return "", batch{}, fmt.Errorf("count %d: key or org id is not a UUID", i)
		case c.Hour.IsZero() || c.Hour.Unix()%3600 != 0:
			return "", batch{}, fmt.Errorf("count %d: hour %v is not the start of an hour", i, c.Hour)
		case c.Outcome == "" || c.Count <= 0:
			return "", batch{}, fmt.Errorf("count %d: no outcome or a count below 1", i)
		}
		b.counts[countKey{keyID: c.KeyID, orgID: c.OrgID, hour: c.Hour.Unix(), outcome: c.Outcome, scope: c.Scope}] += c.Count
	}
	for i, u := range f.LastUsed {
		var ip netip.Addr
		if u.IP != "" {
			if ip, err = netip.ParseAddr(u.IP); err != nil {
				return "", batch{}, fmt.Errorf("last use %d: %w", i, err)
			}
		}
		if !store.ValidID(u.KeyID) || u.At.IsZero() {
			return "", batch{}, fmt.Errorf("last use %d: no key id or time", i)
		}
		if prev, ok := b.last[u.KeyID]; !ok || u.At.After(prev.at) {
			b.last[u.KeyID] = lastUse{at: u.At, ip: ip, origin: u.Origin}
		}
	}
	for i, src := range f.Sources {
		var ip netip.Addr
		if src.IP != "" {
			if ip, err = netip.ParseAddr(src.IP); err != nil {
				return "", batch{}, fmt.Errorf("source %d: %w", i, err)
			}
		}
		switch {
		case !store.ValidID(src.KeyID) || !store.ValidID(src.OrgID):
			return "", batch{}, fmt.Errorf("source %d: key or org id is not a UUID", i)
		case src.Day.IsZero() || src.Day.Unix()%86400 != 0:
			return "", batch{}, fmt.Errorf("source %d: day %v is not the start of a UTC day", i, src.Day)
		case src.Count <= 0 || src.LastSeen.IsZero():
			return "", batch{}, fmt.Errorf("source %d: a count below 1 or no time", i)
		}
		k := sourceKey{keyID: src.KeyID, orgID: src.OrgID, day: src.Day.Unix(), ip: ip, origin: src.Origin, would: src.Would}
		addSource(b.sources, k, sourceUse{n: src.Count, last: src.LastSeen})
	}
	for i, sp := range f.Spent {
		switch {
		case !store.ValidID(sp.SubjectID) || !store.ValidID(sp.OrgID):
			return "", batch{}, fmt.Errorf("spent %d: subject or org id is not a UUID", i)
		case sp.PeriodStart.IsZero() || sp.Amount <= 0:
			return "", batch{}, fmt.Errorf("spent %d: no period or an amount below 1", i)
		}
		b.spent[spendKey{subject: sp.SubjectID, orgID: sp.OrgID, period: sp.PeriodStart.Unix()}] += sp.Amount
	}
	return f.ID, b, nil
}

// spillFiles returns the paths of the spill files in dir, oldest first
// (their ids are UUIDv7). A missing dir holds none.
func spillFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && strings.HasPrefix(name, spillPrefix) && strings.HasSuffix(name, spillSuffix) {
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	slices.Sort(paths)
	return paths, nil
}

// Replay writes the spill files found in SpillDir to the database, each
// exactly once, then removes them: each file's id is recorded in the
// transaction that writes its counts and last uses, and a file whose id
// was recorded before is removed without writing. A file that cannot be
// read or makes no sense is logged and renamed with a ".bad" suffix, never
// removed. Replay stops at the first file the database refuses and returns
// that error; the file is kept for the next call. Counts of keys the
// database does not hold are dropped, with a warning.
func (r *Recorder) Replay(ctx context.Context) error {
	if r.SpillDir == "" {
		return nil
	}
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	paths, err := spillFiles(r.SpillDir)
	if err != nil {
		r.logger.Error("usage: cannot list spill files", "dir", r.SpillDir, "err", err)
		return nil
	}
	for _, path := range paths {
		id, b, err := readSpill(path)
		if err != nil {
			r.moveAside(path, err)
			continue
		}
		if err := r.dropUnknownKeys(ctx, path, &b); err != nil {
			return fmt.Errorf("usage: replay %s: %w", filepath.Base(path), err)
		}
		written, err := r.write(ctx, b, id)
		if err != nil {
			return fmt.Errorf("usage: replay %s: %w", filepath.Base(path), err)
		}
		if written {
			r.logger.Info("usage: spill file written to the database", "file", path, "requests", b.requests())
		} else {
			r.logger.Info("usage: spill file was written before; removing it", "file", path)
		}
		if err := os.Remove(path); err != nil {
			r.logger.Error("usage: cannot remove a written spill file; the next start will remove it", "file", path, "err", err)
		}
	}
	return nil
}

// moveAside renames a spill file that cannot be replayed, so it is kept
// for a person to look at and never replayed.
func (r *Recorder) moveAside(path string, cause error) {
	if err := os.Rename(path, path+badSuffix); err != nil {
		r.logger.Error("usage: unreadable spill file, and it cannot be renamed", "file", path, "err", cause, "rename_err", err)
		return
	}
	r.logger.Error("usage: unreadable spill file moved aside; its counts are not written", "file", path+badSuffix, "err", cause)
}

// dropUnknownKeys removes from b the counts and last uses of keys the
// database does not hold (a spill file brought to another database), which
// could never be written.
func (r *Recorder) dropUnknownKeys(ctx context.Context, path string, b *batch) error {
	ids := map[string]bool{}
	for k := range b.counts {
		ids[k.keyID] = false
	}
	for id := range b.last {
		ids[id] = false
	}
	for k := range b.sources {
		ids[k.keyID] = false
	}
	all := make([]string, 0, len(ids))
	for id := range ids {
		all = append(all, id)
	}
	for chunk := range slices.Chunk(all, 500) {
		var found []string
		if err := r.db.WithContext(ctx).Table("api_keys").Where("id IN ?", chunk).Pluck("id", &found).Error; err != nil {
			return err
		}
		for _, id := range found {
			ids[id] = true
		}
	}
	var dropped int64
	for k, n := range b.counts {
		if !ids[k.keyID] {
			dropped += n
			delete(b.counts, k)
		}
	}
	for id := range b.last {
		if !ids[id] {
			delete(b.last, id)
		}
	}
	for k := range b.sources {
		if !ids[k.keyID] {
			delete(b.sources, k)
		}
	}
	if err := r.dropUnknownOrgs(ctx, path, b); err != nil {
		return err
	}
	if dropped > 0 {
		r.logger.Warn("usage: spill file counts keys this database does not hold; their counts are dropped", "file", path, "requests", dropped)
	}
	return nil
}

// CheckSpillDir makes sure dir can take spill files, at start rather than at
// the shutdown that needs it: it creates dir (0700) if missing, writes and
// removes a file there, and removes temporary files that a shutdown killed
// mid-write left behind (they were never renamed, so they hold nothing a
// replay would count).
func CheckSpillDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".keyplane-write-check-*")
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return err
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "."+spillPrefix+"*.tmp"))
	for _, p := range leftovers {
		os.Remove(p)
	}
	return nil
}

// dropUnknownOrgs removes from b the quota amounts of organizations the
// database does not hold.
func (r *Recorder) dropUnknownOrgs(ctx context.Context, path string, b *batch) error {
	if len(b.spent) == 0 {
		return nil
	}
	orgs := map[string]bool{}
	for k := range b.spent {
		orgs[k.orgID] = false
	}
	all := slices.Collect(maps.Keys(orgs))
	for chunk := range slices.Chunk(all, 500) {
		var found []string
		if err := r.db.WithContext(ctx).Table("organizations").Where("id IN ?", chunk).Pluck("id", &found).Error; err != nil {
			return err
		}
		for _, id := range found {
			orgs[id] = true
		}
	}
	for k := range b.spent {
		if !orgs[k.orgID] {
			r.logger.Warn("usage: spill file holds quota amounts of an organization this database does not hold; dropped", "file", path)
			delete(b.spent, k)
		}
	}
	return nil
}
