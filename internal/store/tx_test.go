package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// names is a service as Keyplane's are: every query goes through Conn.
type names struct{ db *store.DB }

func newNames(t *testing.T, db *store.DB) names {
	t.Helper()
	if err := db.Exec("CREATE TABLE tx_names (name TEXT PRIMARY KEY)").Error; err != nil {
		t.Fatalf("create table: %v", err)
	}
	return names{db}
}

func (n names) add(ctx context.Context, name string) error {
	return n.db.Conn(ctx).Exec("INSERT INTO tx_names (name) VALUES (?)", name).Error
}

func (n names) has(ctx context.Context, name string) (bool, error) {
	var c int64
	err := n.db.Conn(ctx).Table("tx_names").Where("name = ?", name).Count(&c).Error
	return c > 0, err
}

// stored returns the committed names, read outside any transaction.
func (n names) stored(t *testing.T) map[string]bool {
	t.Helper()
	var list []string
	if err := n.db.Conn(context.Background()).Table("tx_names").Pluck("name", &list).Error; err != nil {
		t.Fatalf("read names: %v", err)
	}
	out := map[string]bool{}
	for _, e := range list {
		out[e] = true
	}
	return out
}

func TestWithTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newNames(t, db)
		boom := errors.New("boom")

		// A write outside any transaction stays, whatever later ones do.
		if err := svc.add(ctx, "before"); err != nil {
			t.Fatalf("add outside: %v", err)
		}

		t.Run("rollback undoes a service write", func(t *testing.T) {
			err := db.WithTx(ctx, func(ctx context.Context) error {
				if err := svc.add(ctx, "rolled"); err != nil {
					return err
				}
				if ok, err := svc.has(ctx, "rolled"); !ok || err != nil {
					t.Errorf("the transaction cannot read its own write: %v, %v", ok, err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v, want boom", err)
			}
			if got := svc.stored(t); got["rolled"] || !got["before"] {
				t.Fatalf("names after rollback = %v, want [before]", got)
			}
		})

		t.Run("commit keeps the write", func(t *testing.T) {
			err := db.WithTx(ctx, func(ctx context.Context) error { return svc.add(ctx, "kept") })
			if err != nil || !svc.stored(t)["kept"] {
				t.Fatalf("WithTx = %v; names %v, want kept", err, svc.stored(t))
			}
		})

		t.Run("nested joins the outer transaction", func(t *testing.T) {
			err := db.WithTx(ctx, func(outer context.Context) error {
				if err := db.WithTx(outer, func(inner context.Context) error { return svc.add(inner, "inner") }); err != nil {
					return err
				}
				// Nothing committed: the inner write is seen by the
				// outer transaction, the same one, and by nobody else.
				if ok, err := svc.has(outer, "inner"); !ok || err != nil {
					t.Errorf("the outer transaction cannot see the inner write: %v, %v", ok, err)
				}
				if svc.stored(t)["inner"] {
					t.Error("the inner WithTx committed on its own")
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v, want boom", err)
			}
			if svc.stored(t)["inner"] {
				t.Fatal("the inner write outlived the outer rollback")
			}
		})

		t.Run("a failed nested call dooms the transaction", func(t *testing.T) {
			var inner error
			err := db.WithTx(ctx, func(ctx context.Context) error {
				if err := svc.add(ctx, "first"); err != nil {
					return err
				}
				inner = db.WithTx(ctx, func(ctx context.Context) error {
					return apperr.New(apperr.Conflict, "taken")
				})
				return nil // the caller carries on regardless
			})
			if !apperr.Is(inner, apperr.Conflict) || !apperr.Is(err, apperr.Conflict) {
				t.Fatalf("inner %v, outer %v; want both Conflict", inner, err)
			}
			if svc.stored(t)["first"] {
				t.Fatal("the transaction committed after a failed nested call")
			}
		})

		t.Run("panic rolls back", func(t *testing.T) {
			func() {
				defer func() { recover() }()
				db.WithTx(ctx, func(ctx context.Context) error {
					if err := svc.add(ctx, "panic"); err != nil {
						return err
					}
					panic("boom")
				})
			}()
			if svc.stored(t)["panic"] {
				t.Fatal("a panicking transaction committed")
			}
		})

		if db.Dialect == store.Postgres {
			// PostgreSQL only: SQLite lets one writer in at a time, so a
			// writer beside the transaction would wait for it to end.
			t.Run("a write beside the transaction is unaffected", func(t *testing.T) {
				err := db.WithTx(ctx, func(txCtx context.Context) error {
					if err := svc.add(ctx, "beside"); err != nil {
						return err
					}
					if err := svc.add(txCtx, "inside"); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatalf("WithTx = %v, want boom", err)
				}
				if got := svc.stored(t); !got["beside"] || got["inside"] {
					t.Fatalf("names %v, want beside kept and inside rolled back", got)
				}
			})
		}

		t.Run("after commit", func(t *testing.T) {
			var ran []string
			db.AfterCommit(ctx, func() { ran = append(ran, "no tx") })
			db.WithTx(ctx, func(ctx context.Context) error {
				db.AfterCommit(ctx, func() { ran = append(ran, "rolled back") })
				return boom
			})
			db.WithTx(ctx, func(ctx context.Context) error {
				db.WithTx(ctx, func(ctx context.Context) error {
					db.AfterCommit(ctx, func() { ran = append(ran, "nested") })
					return nil
				})
				if len(ran) != 1 {
					t.Errorf("ran %v before the commit", ran)
				}
				return nil
			})
			if len(ran) != 2 || ran[0] != "no tx" || ran[1] != "nested" {
				t.Fatalf("ran %v, want [no tx nested]", ran)
			}
		})
	})
}

// A transaction of one database is not another's: a service over another
// database keeps to its own pool.
func TestWithTxOfAnotherDB(t *testing.T) {
	a, b := storetest.SQLite(t), storetest.SQLite(t)
	inA, inB := newNames(t, a), newNames(t, b)
	err := a.WithTx(context.Background(), func(ctx context.Context) error {
		if err := inB.add(ctx, "b"); err != nil {
			return err
		}
		return errors.New("roll back a")
	})
	if err == nil {
		t.Fatal("WithTx returned nil")
	}
	if !inB.stored(t)["b"] || len(inA.stored(t)) != 0 {
		t.Fatalf("b %v, a %v: b's write went astray", inB.stored(t), inA.stored(t))
	}
}

// TestConcurrentWritersQueue: two transactions that read, then write, at
// the same time both commit: on SQLite the second waits for the write lock
// from its start instead of failing when it upgrades its read
// (SQLITE_BUSY_SNAPSHOT).
func TestConcurrentWritersQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		n := newNames(t, db)
		errs := make(chan error, 2)
		for _, name := range []string{"first", "second"} {
			go func() {
				errs <- db.WithTx(context.Background(), func(ctx context.Context) error {
					if _, err := n.has(ctx, name); err != nil {
						return err
					}
					time.Sleep(50 * time.Millisecond) // the other one reads meanwhile, if it can
					return n.add(ctx, name)
				})
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("a concurrent writer failed: %v", err)
			}
		}
		if got := n.stored(t); !got["first"] || !got["second"] {
			t.Fatalf("stored %v, want both", got)
		}
	})
}
