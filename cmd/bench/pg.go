package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"keyplane/internal/apikey"
)

// throwawayDB is a database created for one run on the server of
// TEST_DATABASE_URL, and dropped after it.
type throwawayDB struct {
	base string // URL of the server's maintenance connection
	name string
	url  string // URL of the throwaway database
}

// createThrowawayDB creates an empty database named keyplane_bench_<random>.
func createThrowawayDB(ctx context.Context, base string) (*throwawayDB, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	name := "keyplane_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &throwawayDB{base: base, name: name, url: u.String()}, nil
}

// drop removes the database, ending any connection still open to it.
func (t *throwawayDB) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, t.base)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+t.name+" WITH (FORCE)")
	return err
}

// redact hides a password in a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// seedKeys writes n private live keys of organization orgSlug straight into
// api_keys with COPY, over `streams` connections in parallel. Each key is a
// real one (format, checksum, SHA-256); the plaintexts of `sample` of them,
// spread at random over the table, are returned; the rest are forgotten.
func seedKeys(ctx context.Context, dbURL, orgSlug, prefix string, n, sample, streams int) ([]string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	var orgID pgtype.UUID
	err = conn.QueryRow(ctx, "SELECT id FROM organizations WHERE slug = $1", orgSlug).Scan(&orgID)
	conn.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("find organization %s: %w", orgSlug, err)
	}

	slots := make(map[int]int, sample) // key index → sample slot
	for len(slots) < min(sample, n) {
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if _, dup := slots[int(i.Int64())]; !dup {
			slots[int(i.Int64())] = len(slots)
		}
	}
	kept := make([]string, len(slots))

	columns := []string{"id", "org_id", "key_hash", "hint", "description", "kind", "environment", "scopes", "created_at", "updated_at"}
	created := time.Now().UTC().Add(-time.Duration(n) * time.Millisecond)
	per := (n + streams - 1) / streams
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for s := range streams {
		from, to := s*per, min(n, (s+1)*per)
		wg.Go(func() {
			c, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				errs[s] = err
				return
			}
			defer c.Close(context.Background())
			rnd := bufio.NewReaderSize(rand.Reader, 64<<10)
			i := from
			row := make([]any, len(columns))
			_, errs[s] = c.CopyFrom(ctx, pgx.Identifier{"api_keys"}, columns, pgx.CopyFromFunc(func() ([]any, error) {
				if i >= to {
					return nil, nil
				}
				key, err := apikey.Generate(rnd, prefix, apikey.Private, apikey.Live)
				if err != nil {
					return nil, err
				}
				if slot, ok := slots[i]; ok {
					kept[slot] = key
				}
				at := created.Add(time.Duration(i) * time.Millisecond)
				row[0] = pgtype.UUID{Bytes: uuid.Must(uuid.NewV7()), Valid: true}
				row[1] = orgID
				row[2] = apikey.Hash(key)
				row[3] = apikey.Hint(key)
				row[4] = fmt.Sprintf("bench key %d", i)
				row[5], row[6], row[7] = string(apikey.Private), string(apikey.Live), "read"
				row[8], row[9] = at, at
				i++
				return row, nil
			}))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("copy keys: %w", err)
		}
	}
	conn, err = pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	// A table just filled by COPY is not one in service: its first reads
	// set hint bits and dirty pages, and the next checkpoint writes them
	// while the sample is measured. VACUUM settles it as autovacuum would,
	// and a checkpoint (superusers only; skipped otherwise) writes it out.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) api_keys"); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	conn.Exec(ctx, "CHECKPOINT")
	for _, k := range kept {
		if !strings.HasPrefix(k, prefix+"_") {
			return nil, fmt.Errorf("seed: a sampled key was not generated")
		}
	}
	return kept, nil
}
