package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"keyplane/internal/apikey"
)

// Flood settings: distinct well-formed unknown keys from one client, and a
// cached key verified meanwhile at a steady rate.
const (
	floodRate  = 10_000
	floodFor   = 5 * time.Second
	cachedRate = 500
)

// floodResult is the unknown-key flood's figures.
type floodResult struct {
	keys            int64
	reads           float64
	quiet, underRes loadResult
	flood           loadResult
}

// floodPart measures what a flood of unknown keys costs: database reads
// (target: at most 1 per 1,000 keys) and the p99 of a cached key verified
// meanwhile, against its quiet p99 (target: within 1 ms, under 5 ms).
func (b *bench) floodPart(ctx context.Context, kp *server, url, cachedKey string) error {
	b.printf("\n== unknown-key flood: %d distinct unknown keys/s for %s from one client, a cached key at %d/s meanwhile ==\n",
		floodRate, floodFor, cachedRate)
	n := int(floodRate * floodFor.Seconds())
	keys := make([]string, n)
	for i := range keys {
		k, err := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	file := filepath.Join(b.tmp, "unknown-keys.txt")
	if err := writeLines(file, keys); err != nil {
		return err
	}
	cached := loadgen{bin: b.load.bin, headers: []string{"X-Api-Key: " + cachedKey, "X-Forwarded-Method: GET", "X-Forwarded-Uri: /api/orders/42"}}
	flood := loadgen{bin: b.load.bin, headers: []string{"X-Forwarded-Method: GET", "X-Forwarded-Uri: /api/orders/42"}}

	quiet, err := cached.open(ctx, url, floodFor, cachedRate, 8)
	if err != nil {
		return err
	}
	b.printf("quiet     cached key  p50 %.3f  p99 %.3f  max %.3f ms%s\n", quiet.Latency.P50, quiet.Latency.P99, quiet.Latency.Max, warn(quiet))

	before, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var floodRes, under loadResult
	var floodErr, underErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		floodRes, floodErr = flood.open(ctx, url, floodFor, floodRate, 32, "-keys", file, "-n", strconv.Itoa(n))
	}()
	go func() {
		defer wg.Done()
		under, underErr = cached.open(ctx, url, floodFor, cachedRate, 8)
	}()
	wg.Wait()
	if floodErr != nil {
		return floodErr
	}
	if underErr != nil {
		return underErr
	}
	after, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	r := floodResult{keys: floodRes.Requests, reads: delta(before, after, "keyplane_verify_db_reads_total"), quiet: quiet, underRes: under, flood: floodRes}
	b.flood = &r
	b.printf("flooded   cached key  p50 %.3f  p99 %.3f  max %.3f ms%s\n", under.Latency.P50, under.Latency.P99, under.Latency.Max, warn(under))
	b.printf("flood     %d unknown keys at %.0f/s (%s): %.0f database reads (keyplane_verify_db_reads_total), %.3f per 1,000 keys\n",
		floodRes.Requests, floodRes.RPS, floodRes.statuses(), r.reads, r.perThousand())
	return nil
}

func (r floodResult) perThousand() float64 { return 1000 * r.reads / float64(max(1, r.keys)) }

// summaryLine is the flood's line in the summary.
func (r floodResult) summaryLine() string {
	q, u := r.quiet.Latency.P99, r.underRes.Latency.P99
	ok := r.perThousand() <= 1 && u-q <= 1 && u < 5 && r.underRes.ok()
	return fmt.Sprintf("unknown-key flood    %.3f database reads per 1,000 unknown keys; cached-key p99 %.3f ms quiet, %.3f ms flooded  [targets ≤ 1 per 1,000, p99 within 1 ms and < 5 ms: %s]",
		r.perThousand(), q, u, verdict(ok))
}
