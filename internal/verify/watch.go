package verify

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"

	"keyplane/internal/store"
)

// How often SQLite is polled for changes made by other processes, and how
// long key_changes rows are kept.
const (
	pollEvery      = 250 * time.Millisecond
	changesKeepFor = time.Hour
)

// Watch drops keys from the cache as other processes change them, until ctx
// ends: on PostgreSQL through LISTEN on the key-changes channel (databaseURL
// is the server to listen on), on SQLite by polling PRAGMA data_version and
// reading the new rows of key_changes. Whenever changes may have been
// missed (a lost connection), the whole cache is dropped.
func (v *Verifier) Watch(ctx context.Context, db *store.DB, databaseURL string) {
	if db.Dialect == store.Postgres {
		v.listen(ctx, db, databaseURL)
		return
	}
	v.poll(ctx, db)
}

func (v *Verifier) listen(ctx context.Context, db *store.DB, databaseURL string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, databaseURL)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+store.KeyChangesChannel)
		}
		if err == nil {
			// Anything may have changed while no one listened.
			v.InvalidateAll()
			backoff = 100 * time.Millisecond
			err = v.receive(ctx, conn, db)
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		v.logger.Warn("verify: key change listener lost its connection; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (v *Verifier) receive(ctx context.Context, conn *pgx.Conn, db *store.DB) error {
	lastPrune := time.Time{}
	for {
		if time.Since(lastPrune) > 10*time.Minute {
			pruneChanges(ctx, db, v.now())
			lastPrune = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if timedOut && !conn.IsClosed() {
				// A quiet channel, or a database that stopped answering:
				// a ping tells them apart within seconds.
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err = conn.Ping(pctx)
				cancel()
				if err == nil {
					continue
				}
			}
			return err
		}
		if h, err := hex.DecodeString(n.Payload); err == nil {
			v.Invalidate(h)
		}
	}
}

func (v *Verifier) poll(ctx context.Context, db *store.DB) {
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		v.logger.Error("verify: cannot watch for key changes", "err", err)
		return
	}
	defer conn.Close()
	var version, lastID int64
	conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version)
	conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM key_changes").Scan(&lastID)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var now int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&now); err != nil || now == version {
			continue
		}
		version = now
		rows, err := conn.QueryContext(ctx, "SELECT id, key_hash FROM key_changes WHERE id > ? ORDER BY id", lastID)
		if err != nil {
			v.InvalidateAll()
			continue
		}
		for rows.Next() {
			var id int64
			var h []byte
			if rows.Scan(&id, &h) == nil {
				v.Invalidate(h)
				lastID = id
			}
		}
		rows.Close()
		if time.Since(lastPrune) > 10*time.Minute {
			pruneChanges(ctx, db, v.now())
			lastPrune = time.Now()
		}
	}
}

func pruneChanges(ctx context.Context, db *store.DB, now time.Time) {
	db.WithContext(ctx).Exec("DELETE FROM key_changes WHERE created_at < ?", now.Add(-changesKeepFor).UTC())
}
