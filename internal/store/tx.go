package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// txKey is the context key of the transaction WithTx runs.
type txKey struct{}

// tx is a transaction WithTx put in a context.
type tx struct {
	pool *gorm.DB // the DB the transaction belongs to
	conn *gorm.DB
	// failed is the first error a joined WithTx returned: it dooms the
	// whole transaction, whatever the callers in between made of it.
	failed      error
	afterCommit []func()
}

func (db *DB) txOf(ctx context.Context) *tx {
	t, _ := ctx.Value(txKey{}).(*tx)
	if t == nil || t.pool != db.DB {
		return nil
	}
	return t
}

// WithTx runs fn in a transaction: it commits when fn returns nil and rolls
// back when fn returns an error or panics. The ctx fn gets carries the
// transaction, so every query made through Conn with it, by fn or by any
// service fn calls, runs inside.
//
// A WithTx under a ctx that already carries a transaction of db joins it:
// no savepoint, nothing commits before the outermost fn returns. An error
// returned by a joined fn dooms the whole transaction, even when a caller in
// between carries on: the outermost WithTx then rolls back and returns that
// error. A transaction is one connection: fn must not run queries with its
// ctx in parallel.
func (db *DB) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if t := db.txOf(ctx); t != nil {
		err := fn(ctx)
		if err != nil && t.failed == nil {
			t.failed = err
		}
		return err
	}
	t := &tx{pool: db.DB}
	err := db.DB.WithContext(ctx).Transaction(func(conn *gorm.DB) error {
		t.conn = conn
		if err := fn(context.WithValue(ctx, txKey{}, t)); err != nil {
			return err
		}
		if t.failed != nil {
			return fmt.Errorf("store: transaction rolled back after a failed step: %w", t.failed)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range t.afterCommit {
		f()
	}
	return nil
}

// Conn returns what a query made under ctx runs on: the transaction of db
// that ctx carries (see WithTx), else the pool. Services make every query
// through Conn, so they join their caller's transaction.
func (db *DB) Conn(ctx context.Context) *gorm.DB {
	if t := db.txOf(ctx); t != nil {
		return t.conn.WithContext(ctx)
	}
	return db.DB.WithContext(ctx)
}

// AfterCommit runs fn once the transaction ctx carries has committed, and
// never if it rolls back; without a transaction it runs fn at once. It is
// for effects outside the database, such as dropping a cached key.
func (db *DB) AfterCommit(ctx context.Context, fn func()) {
	if t := db.txOf(ctx); t != nil {
		t.afterCommit = append(t.afterCommit, fn)
		return
	}
	fn()
}
