package store

import "context"

// OpenAt opens the database of opts with the migrations up to version
// applied, for tests of a later migration.
func OpenAt(ctx context.Context, opts Options, version int64) (*DB, error) {
	db, err := connect(opts)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
