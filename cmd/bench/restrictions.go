package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
)

// restrictionResult is what the restrictions part measured: each key's
// median requests per second and CPU per request, against the plain key's
// of the same rounds, and the database reads a burst on the metered key
// made.
type restrictionResult struct {
	rps, cpu             map[string][]float64
	quotaReads           float64
	quotaBurst           int64
	quotaAllowed, quotaN float64
}

// restrictionKeys are the keys the part compares, by name: "plain" is the
// key of the other parts (no quota, every restriction enforced).
var restrictionKeys = []string{"plain", "quota", "report-only"}

// restrictionsPart measures what a quota and a report-only restriction
// cost a cached key on the running keyplane: closed-loop rounds in turns
// with the plain key, a key with a monthly quota (and its organization's
// none), and a key whose IP allowlist every request is outside of, in
// report-only mode (so every request is counted as would_ip_not_allowed);
// then the database reads of a burst on the metered key (target 0: the
// quota is counted in memory, or Redis).
func (b *bench) restrictionsPart(ctx context.Context, env []string, kp *server, plain string) error {
	o := b.o
	metered, err := runCLI(ctx, b.keyplane, env, "", "keys", "create", "--org", benchOrg, "--description", "bench quota",
		"--quota", "1000000000000", "--quota-period", "month")
	if err != nil {
		return err
	}
	reported, err := runCLI(ctx, b.keyplane, env, "", "keys", "create", "--org", benchOrg, "--description", "bench report-only",
		"--ip", "192.0.2.0/24", "--report-only", "ips")
	if err != nil {
		return err
	}
	keys := map[string]string{"plain": plain, "quota": metered, "report-only": reported}
	headers := func(key string) []string {
		return []string{"X-Api-Key: " + key, "X-Forwarded-Method: GET", "X-Forwarded-Uri: /api/orders/42"}
	}
	for _, name := range restrictionKeys {
		status, _, err := kp.get(ctx, authPath, http.Header{"X-Api-Key": {keys[name]}})
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("keyplane: forward-auth with the %s key: status %d, %v\n%s", name, status, err, kp.tail())
		}
	}
	rounds := min(o.rounds, 3)
	r := &restrictionResult{rps: map[string][]float64{}, cpu: map[string][]float64{}}
	url := "http://" + kp.addr + authPath
	b.printf("\n== keys with a quota or a report-only restriction: closed loop, %d connections, %d rounds of %s each, in turns ==\n", o.conns, rounds, o.round)
	b.printf("plain (no quota, restrictions enforced), quota (a monthly quota no request reaches), report-only (an IP allowlist every request is outside of, report-only)\n")
	round := func(name string, d time.Duration) (loadResult, float64, error) {
		b.load.headers = headers(keys[name])
		if b.wrk != nil {
			b.wrk.headers = b.load.headers
		}
		before := kp.cpu()
		res, err := b.closed(ctx, url, d, o.conns)
		return res, (kp.cpu() - before) / float64(max(1, res.Requests)) * 1e6, err
	}
	for _, name := range restrictionKeys {
		if _, _, err := round(name, o.warmup); err != nil {
			return err
		}
	}
	for i := range rounds {
		for j := range restrictionKeys {
			name := restrictionKeys[(i+j)%len(restrictionKeys)]
			res, cpu, err := round(name, o.round)
			if err != nil {
				return err
			}
			b.printf("round %d  %-11s  %8.0f rps  p50 %.3f ms  p99 %.3f ms  CPU %.1f µs/request%s\n",
				i+1, name, res.RPS, res.Latency.P50, res.Latency.P99, cpu, warn(res))
			r.rps[name] = append(r.rps[name], res.RPS)
			r.cpu[name] = append(r.cpu[name], cpu)
		}
	}
	for _, name := range restrictionKeys[1:] {
		b.printf("median    %s %.0f rps vs plain %.0f rps: %.3f; CPU %.1f vs %.1f µs/request: %.3f\n", name,
			median(r.rps[name]), median(r.rps["plain"]), median(r.rps[name])/median(r.rps["plain"]),
			median(r.cpu[name]), median(r.cpu["plain"]), median(r.cpu[name])/median(r.cpu["plain"]))
	}

	b.load.headers = headers(metered)
	before, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	res, err := b.load.closed(ctx, url, o.burst, o.conns)
	if err != nil {
		return err
	}
	after, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	r.quotaBurst, r.quotaReads = res.Requests, delta(before, after, "keyplane_verify_db_reads_total")
	b.printf("%s burst on the metered key: %d requests, %.0f database reads (%.6f per verification)%s\n",
		o.burst, res.Requests, r.quotaReads, r.quotaReads/float64(max(1, res.Requests)), warn(res))
	b.load.headers = headers(plain)
	if b.wrk != nil {
		b.wrk.headers = b.load.headers
	}
	b.restrictions = r
	return nil
}

// summaryLines are the part's lines of the summary.
func (r *restrictionResult) summaryLines(burst time.Duration) []string {
	if r == nil {
		return nil
	}
	plain := median(r.rps["plain"])
	var out []string
	for _, name := range restrictionKeys[1:] {
		out = append(out, fmt.Sprintf("%-21s %.0f rps vs a plain key's %.0f (medians, same server, same run): ratio %.3f; CPU per request ratio %.3f",
			name+" key", median(r.rps[name]), plain, median(r.rps[name])/plain, median(r.cpu[name])/median(r.cpu["plain"])))
	}
	reads := "met"
	if r.quotaReads > 0 {
		reads = "MISSED"
		if r.quotaReads <= math.Ceil(burst.Seconds()/safetyTTL.Seconds()) {
			reads = "met but for the safety-TTL reload"
		}
	}
	out = append(out, fmt.Sprintf("db queries / metered  %.6f (%.0f database reads in %d verifications of a key with a quota, in %s)  [target 0: %s]",
		r.quotaReads/float64(max(1, r.quotaBurst)), r.quotaReads, r.quotaBurst, burst, reads))
	return out
}
