package verify

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func withDeadline(ctx context.Context, d time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}

// querier is the little the watchers ask of a connection, PostgreSQL's own
// (pgx) or SQLite's (database/sql).
type querier interface {
	QueryRow(ctx context.Context, sql string, dest any) error
	Each(ctx context.Context, sql string, args []any, fn func(scan func(...any) error) error) error
}

type pgxQuerier struct{ conn *pgx.Conn }

func (q pgxQuerier) QueryRow(ctx context.Context, sql string, dest any) error {
	return q.conn.QueryRow(ctx, sql).Scan(dest)
}

func (q pgxQuerier) Each(ctx context.Context, sql string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := q.conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, fn)
}

// eachRow calls fn with every row's Scan, then returns the rows' error.
func eachRow(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}, fn func(scan func(...any) error) error) error {
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sqlQuerier queries through database/sql: a pinned SQLite connection, or
// the pool.
type sqlQuerier struct {
	conn interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q sqlQuerier) QueryRow(ctx context.Context, query string, dest any) error {
	return q.conn.QueryRowContext(ctx, query).Scan(dest)
}

// Each runs query with SQLite's placeholder for the first argument.
func (q sqlQuerier) Each(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := q.conn.QueryContext(ctx, strings.ReplaceAll(query, "$1", "?"), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, fn)
}
