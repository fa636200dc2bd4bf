package verify

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"keyplane/internal/store"
)

// How change notices are watched. A listener that hears nothing for
// quietFor proves its connection with SELECT 1 within pingDeadline, or
// reconnects: a connection a partition froze mid-stream looks open to TCP
// for many minutes, and only an answer with a deadline tells.
const (
	pollEvery       = 250 * time.Millisecond // SQLite
	changesKeepFor  = time.Hour
	pruneEvery      = 10 * time.Minute
	quietFor        = 5 * time.Second
	pingDeadline    = time.Second
	connectDeadline = 3 * time.Second
	queryDeadline   = 5 * time.Second
	rebuildDeadline = time.Minute
	rebuildEvery    = 10 * time.Minute
	rebuildRetry    = 5 * time.Second
	// maxBackoff caps the wait between reconnects, so the listener is back
	// within half a second of the database.
	maxBackoff = 500 * time.Millisecond
	// catchUpWindow is how many change ids before the last one heard are
	// read again after a reconnect: ids are taken in one order and
	// committed in another, so one below the last heard may come late.
	catchUpWindow = 1000
)

// Watch keeps the cache and the key-hash set current as keys change
// anywhere, until ctx ends: on PostgreSQL through LISTEN on the key-changes
// channel (databaseURL is the server to listen on), on SQLite by polling
// PRAGMA data_version and reading the new rows of key_changes. After a lost
// connection it reads the changes it missed (or, after a long one, drops
// the cache and rebuilds the key-hash set). The set is rebuilt from the
// pool, apart from the listener, at the start and every ten minutes.
func (v *Verifier) Watch(ctx context.Context, db *store.DB, databaseURL string) {
	v.watching.Store(true)
	go v.prune(ctx, db)
	go v.rebuildLoop(ctx, db)
	if db.Dialect == store.Postgres {
		v.listen(ctx, databaseURL)
		return
	}
	v.poll(ctx, db)
}

// changeLog is what a watcher remembers of the changes it heard.
type changeLog struct {
	connected   bool  // connected at least once
	lastID      int64 // the highest change id heard
	seen        map[int64]struct{}
	lastContact time.Time // when the connection last proved alive
}

// heard notes change id and reports whether it is news.
func (l *changeLog) heard(id int64) bool {
	if _, ok := l.seen[id]; ok {
		return false
	}
	l.seen[id] = struct{}{}
	l.lastID = max(l.lastID, id)
	if len(l.seen) > 2*catchUpWindow {
		for old := range l.seen {
			if old <= l.lastID-catchUpWindow {
				delete(l.seen, old)
			}
		}
	}
	return true
}

func (v *Verifier) listen(ctx context.Context, databaseURL string) {
	log := &changeLog{seen: map[int64]struct{}{}}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := v.listenOnce(ctx, databaseURL, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		v.logger.Warn("verify: key change listener lost its connection; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// listenOnce connects, listens, catches up and then hears notices until the
// connection fails a deadline. The key-hash set is current only meanwhile
// (and once built).
func (v *Verifier) listenOnce(ctx context.Context, databaseURL string, log *changeLog) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = connectDeadline
	// TCP keepalives find a peer that is gone; the SELECT 1 below finds a
	// connection that is open but answers nothing.
	dialer := &net.Dialer{Timeout: connectDeadline, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3,
	}}
	cfg.DialFunc = dialer.DialContext
	cctx, cancel := context.WithTimeout(ctx, connectDeadline)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), pingDeadline)
		conn.Close(cctx)
		cancel()
	}()
	if err := withDeadline(ctx, pingDeadline, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "LISTEN "+store.KeyChangesChannel)
		return err
	}); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// From here every change is either notified or already committed, so
	// what is read now plus what is heard next misses nothing.
	if err := v.catchUp(ctx, pgxQuerier{conn}, log, catchUpWindow); err != nil {
		return err
	}
	v.setListening(true)
	defer v.setListening(false)
	for {
		wctx, cancel := context.WithTimeout(ctx, quietFor)
		n, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !quiet || conn.IsClosed() {
				return err
			}
			if err := withDeadline(ctx, pingDeadline, func(ctx context.Context) error {
				_, err := conn.Exec(ctx, "SELECT 1")
				return err
			}); err != nil {
				return fmt.Errorf("quiet for %s and SELECT 1 failed: %w", quietFor, err)
			}
			log.lastContact = time.Now()
			continue
		}
		log.lastContact = time.Now()
		v.notice(n.Payload, log)
	}
}

// notice applies one change notice: "<id>:<hex hash>", or a bare hex hash
// from an older server.
func (v *Verifier) notice(payload string, log *changeLog) {
	hexHash := payload
	if id, h, ok := strings.Cut(payload, ":"); ok {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return
		}
		if !log.heard(n) {
			return
		}
		hexHash = h
	}
	if h, err := hex.DecodeString(hexHash); err == nil {
		v.Invalidate(h)
	}
}

// setListening records whether change notices are heard: the key-hash set
// is current only while they are, and once it has been built.
func (v *Verifier) setListening(on bool) {
	v.listening.Store(on)
	v.keys.current.Store(on && v.keys.built.Load())
	if on {
		v.metrics.listening.Set(1)
	} else {
		v.metrics.listening.Set(0)
	}
}

// catchUp reads the changes made while nobody listened, from window ids
// before the last one heard. The first time
// there is nothing to read (entries cached before are dropped); after a
// disconnect longer than key_changes is sure to keep its rows, the cache
// is dropped too, since changes may be gone.
func (v *Verifier) catchUp(ctx context.Context, q querier, log *changeLog, window int64) error {
	defer func() { log.lastContact = time.Now() }()
	if !log.connected || time.Since(log.lastContact) > changesKeepFor/2 {
		var last int64
		err := withDeadline(ctx, queryDeadline, func(ctx context.Context) error {
			v.metrics.watchQueries.Inc()
			return q.QueryRow(ctx, "SELECT COALESCE(MAX(id), 0) FROM key_changes", &last)
		})
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		if log.connected {
			v.logger.Warn("verify: key change listener was away too long to catch up; dropping the cache", "away", time.Since(log.lastContact).Round(time.Second))
		}
		v.InvalidateAll()
		// Keys created meanwhile may be missing from the set.
		v.keys.built.Store(false)
		v.keys.current.Store(false)
		v.rebuildSoon()
		log.connected, log.lastID = true, last
		clear(log.seen)
		return nil
	}
	err := withDeadline(ctx, queryDeadline, func(ctx context.Context) error {
		v.metrics.watchQueries.Inc()
		return q.Each(ctx, "SELECT id, key_hash FROM key_changes WHERE id > $1 ORDER BY id", []any{log.lastID - window},
			func(scan func(...any) error) error {
				var id int64
				var h []byte
				if err := scan(&id, &h); err != nil {
					return err
				}
				if log.heard(id) {
					v.Invalidate(h)
				}
				return nil
			})
	})
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	return nil
}

// rebuildLoop rebuilds the key-hash set from the pool when the watcher asks
// (at the start, after a long disconnect) and every rebuildEvery, retrying
// every few seconds while it fails. Keys that reach the database without an
// announcement (bulk loads, servers of an older release) are known from
// the next rebuild on.
func (v *Verifier) rebuildLoop(ctx context.Context, db *store.DB) {
	v.rebuildSoon()
	t := time.NewTicker(rebuildEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.keys.rebuildNow:
		}
		for v.rebuildKeySet(ctx, sqlQuerier{db.SQL()}) != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(rebuildRetry):
			}
		}
	}
}

// rebuildSoon asks rebuildLoop for a rebuild now.
func (v *Verifier) rebuildSoon() {
	select {
	case v.keys.rebuildNow <- struct{}{}:
	default:
	}
}

// rebuildKeySet reads the hash prefix of every stored key.
func (v *Verifier) rebuildKeySet(ctx context.Context, q querier) error {
	bulk := v.keys.bulk.Load()
	mark := v.keys.beginRebuild()
	var prefixes []uint64
	err := withDeadline(ctx, rebuildDeadline, func(ctx context.Context) error {
		v.metrics.watchQueries.Inc()
		return q.Each(ctx, "SELECT key_hash FROM api_keys", nil, func(scan func(...any) error) error {
			var h []byte
			if err := scan(&h); err != nil {
				return err
			}
			if len(h) >= 8 {
				prefixes = append(prefixes, prefixOf(h))
			}
			return nil
		})
	})
	if err != nil {
		v.logger.Warn("verify: rebuilding the set of key hashes failed; unknown keys read the database meanwhile", "err", err)
		return fmt.Errorf("rebuild key set: %w", err)
	}
	v.keys.rebuild(prefixes, mark)
	if v.keys.bulk.Load() != bulk {
		// Keys were imported meanwhile: the read may have missed them.
		v.rebuildSoon()
		return nil
	}
	v.keys.built.Store(true)
	v.keys.current.Store(v.listening.Load())
	return nil
}

// poll watches a SQLite database: other processes (the CLI) write there.
func (v *Verifier) poll(ctx context.Context, db *store.DB) {
	log := &changeLog{seen: map[int64]struct{}{}}
	var version int64
	for ctx.Err() == nil {
		err := v.pollOnce(ctx, db, log, &version)
		if ctx.Err() != nil {
			return
		}
		v.logger.Warn("verify: watching SQLite for key changes failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (v *Verifier) pollOnce(ctx context.Context, db *store.DB, log *changeLog, version *int64) error {
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := sqlQuerier{conn}
	if err := q.QueryRow(ctx, "PRAGMA data_version", version); err != nil {
		return err
	}
	// SQLite has one writer at a time: ids commit in order, no window.
	if err := v.catchUp(ctx, q, log, 0); err != nil {
		return err
	}
	v.setListening(true)
	defer v.setListening(false)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		var now int64
		if err := q.QueryRow(ctx, "PRAGMA data_version", &now); err != nil {
			return err
		}
		log.lastContact = time.Now()
		if now == *version {
			continue
		}
		*version = now
		if err := v.catchUp(ctx, q, log, 0); err != nil {
			return err
		}
	}
}

// prune deletes key changes older than an hour, every ten minutes, with a
// deadline of its own: a dead connection costs one missed prune, nothing
// else.
func (v *Verifier) prune(ctx context.Context, db *store.DB) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		err := withDeadline(ctx, queryDeadline, func(ctx context.Context) error {
			return db.WithContext(ctx).Exec("DELETE FROM key_changes WHERE created_at < ?", v.now().Add(-changesKeepFor).UTC()).Error
		})
		if err != nil && ctx.Err() == nil {
			v.logger.Warn("verify: prune key changes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
