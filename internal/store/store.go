// Package store opens Keyplane's database (PostgreSQL, or an embedded SQLite
// file when no DATABASE_URL is set), applies the embedded migrations, and
// carries transactions in a context so services join their caller's.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"keyplane/migrations"
)

// Dialects a DB can speak.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// KeyChangesChannel is the PostgreSQL notification channel on which key
// changes are announced to every server.
const KeyChangesChannel = "keyplane_key_changes"

// DB is an open database: GORM for queries, plus the dialect for the few
// places where PostgreSQL and SQLite differ.
type DB struct {
	*gorm.DB
	Dialect string
}

// Options tell Open which database to use.
type Options struct {
	// DatabaseURL is a postgres:// URL; empty means SQLite in DataDir.
	DatabaseURL string
	// DataDir holds keyplane.db when DatabaseURL is empty.
	DataDir string
	// SQLitePath overrides the SQLite file (tests).
	SQLitePath string
}

// Open connects to the database described by opts and applies every pending
// migration. The caller closes the DB.
func Open(ctx context.Context, opts Options) (*DB, error) {
	db, err := connect(opts)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func connect(opts Options) (*DB, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		TranslateError:         true,
	}
	if opts.DatabaseURL != "" {
		gdb, err := gorm.Open(postgres.Open(opts.DatabaseURL), gcfg)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		sqlDB, err := gdb.DB()
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		return &DB{DB: gdb, Dialect: Postgres}, nil
	}

	path := opts.SQLitePath
	if path == "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		path = filepath.Join(opts.DataDir, "keyplane.db")
	}
	gdb, err := gorm.Open(sqlite.Open(sqliteDSN(path)), gcfg)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	// One writer at a time is all SQLite allows; a few readers share WAL.
	sqlDB.SetMaxOpenConns(4)
	return &DB{DB: gdb, Dialect: SQLite}, nil
}

func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Transactions take the write lock when they begin, so two writers
	// queue on busy_timeout instead of one failing when it upgrades a read
	// (SQLITE_BUSY_SNAPSHOT). No _time_format: the driver already writes
	// SQLite's own time format by default, and it stops reading the
	// parameters after that one, which would drop _txlock silently.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Migrate applies every pending migration. On PostgreSQL a session lock keeps
// replicas that start together from racing.
func (db *DB) Migrate(ctx context.Context) error { return db.migrate(ctx, 0) }

// migrate applies the pending migrations up to version to (all for 0).
func (db *DB) migrate(ctx context.Context, to int64) error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	fsys, err := migrations.FS(db.Dialect)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		var where string
		if err := sqlDB.QueryRowContext(ctx, "SELECT current_database() || '.' || current_schema()").Scan(&where); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		// One lock per database and schema: replicas of one deployment
		// wait for each other; unrelated schemas on the server do not.
		h := fnv.New64a()
		h.Write([]byte("keyplane migrations " + where))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()&math.MaxInt64)),
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if to > 0 {
		_, err = p.UpTo(ctx, to)
	} else {
		_, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// ForShare makes q, a read inside a transaction, keep the rows it reads
// from changing until the transaction ends, while others may read them:
// FOR SHARE on PostgreSQL; SQLite transactions are exclusive already.
func (db *DB) ForShare(q *gorm.DB) *gorm.DB {
	if db.Dialect == Postgres {
		return q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	return q
}

// ForUpdate makes q, a read inside a transaction, hold the rows it reads
// until the transaction ends: FOR UPDATE on PostgreSQL. SQLite needs
// nothing, since its transactions are exclusive from the start (immediate).
func (db *DB) ForUpdate(q *gorm.DB) *gorm.DB {
	if db.Dialect == Postgres {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}

// Ping reports whether the database answers within ctx.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (db *DB) Close() error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// SQL returns the underlying pool.
func (db *DB) SQL() *sql.DB {
	sqlDB, _ := db.DB.DB()
	return sqlDB
}

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// IsNotFound reports whether err means no row matched.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
