package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	benchOrg      = "bench"
	benchEmail    = "bench@example.com"
	benchPassword = "bench-password-long-enough"
	authPath      = "/v1/auth"
	// safetyTTL is how long a cached key may answer before it is read
	// again (PRODUCT.md: "a safety TTL of at most 30 s"): one miss per key
	// per TTL is a reload, not an uncached verification.
	safetyTTL = 30 * time.Second
	// openRounds is how many open-loop runs each server gets, in turns;
	// their p99s' median is what the summary compares.
	openRounds = 3
)

// bench holds the run's settings and the figures for the summary.
type bench struct {
	o        options
	out      io.Writer
	tmp      string
	keyplane string
	baseline string
	load     loadgen
	wrk      *wrk // closed-loop rounds with wrk when set

	kpRPS, baseRPS []float64
	minRPS         []float64 // the minimal forward-auth handler
	kpCPU, minCPU  []float64 // server CPU µs per request, per round
	openRate       float64
	openPin        string    // where the open loop's servers and client ran
	openLagP99     []float64 // the client's send lag p99 of every open-loop round
	// open-loop p99s per round, and whether every request got 200
	kpOpenP99, baseOpenP99, minOpenP99 []float64
	kpOpenOK, baseOpenOK, minOpenOK    bool
	burstRequests                      int64
	burstMisses                        float64
	pgSkipped                          string
	pgSeed                             time.Duration
	pgImport                           time.Duration // keyplane keys import of o.importKeys SHA-256 lines
	pgKeys                             int
	pgResult                           loadResult
	pgMisses                           float64
	pgServerUnder5ms                   float64
	flood                              *floodResult
	restrictions                       *restrictionResult
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

// closed runs one closed-loop round with wrk when there is one, else with
// loadgen.
func (b *bench) closed(ctx context.Context, url string, d time.Duration, conns int) (loadResult, error) {
	if b.wrk != nil {
		return b.wrk.closed(ctx, url, d, conns)
	}
	return b.load.closed(ctx, url, d, conns)
}

// env is the environment of one keyplane instance: its own address, data
// dir, session secret and encryption key, and the database given (SQLite
// when empty).
func (b *bench) env(addr, dataDir, databaseURL string) []string {
	secret, encryption := make([]byte, 32), make([]byte, 32)
	rand.Read(secret)
	rand.Read(encryption)
	env := []string{
		"KEYPLANE_ADDR=" + addr, "KEYPLANE_BASE_URL=http://" + addr, "KEYPLANE_DATA_DIR=" + dataDir,
		"KEYPLANE_SESSION_SECRET=" + hex.EncodeToString(secret),
		"KEYPLANE_ENCRYPTION_KEY=" + hex.EncodeToString(encryption),
	}
	if databaseURL != "" {
		env = append(env, "DATABASE_URL="+databaseURL)
	}
	return cleanEnv(env...)
}

// setUp creates the operator and the organization through the CLI, which
// also applies the migrations.
func (b *bench) setUp(ctx context.Context, env []string) error {
	if _, err := runCLI(ctx, b.keyplane, env, benchPassword+"\n", "admin", "create-user", "--email", benchEmail, "--name", "Bench", "--operator", "--password-stdin"); err != nil {
		return err
	}
	_, err := runCLI(ctx, b.keyplane, env, "", "admin", "create-org", "--name", "Bench", "--slug", benchOrg, "--admin", benchEmail)
	return err
}

// startServers starts keyplane (serve, with kpEnv on kpAddr), bare and the
// minimal forward-auth handler for key, on the pin's CPUs; their logs are
// named with suffix. On an error, whatever it started is stopped.
func (b *bench) startServers(ctx context.Context, on pin, kpEnv []string, kpAddr, key, suffix string) (kp, base, minimal *server, err error) {
	log := func(name string) string { return filepath.Join(b.tmp, name+suffix+".log") }
	defer func() {
		if err != nil {
			kp.stop()
			base.stop()
		}
	}()
	if kp, err = startServer(ctx, "keyplane", on, b.keyplane, []string{"serve"}, kpEnv, kpAddr, log("keyplane"), "/healthz"); err != nil {
		return nil, nil, nil, err
	}
	baseAddr, err := freeAddr()
	if err != nil {
		return nil, nil, nil, err
	}
	if base, err = startServer(ctx, "baseline", on, b.baseline, []string{"-addr", baseAddr}, cleanEnv(), baseAddr, log("baseline"), "/"); err != nil {
		return nil, nil, nil, err
	}
	minAddr, err := freeAddr()
	if err != nil {
		return nil, nil, nil, err
	}
	minimal, err = startServer(ctx, "minimal", on, b.baseline, []string{"-addr", minAddr, "-mode", "forward-auth", "-key", key},
		cleanEnv(), minAddr, log("minimal"), "/healthz")
	if err != nil {
		return nil, nil, nil, err
	}
	return kp, base, minimal, nil
}

// sqlitePart measures cached forward-auth against the baseline, open-loop
// latency, and database reads per cached verification.
func (b *bench) sqlitePart(ctx context.Context) error {
	o := b.o
	kpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	env := b.env(kpAddr, filepath.Join(b.tmp, "sqlite"), "")
	if err := b.setUp(ctx, env); err != nil {
		return err
	}
	key, err := runCLI(ctx, b.keyplane, env, "", "keys", "create", "--org", benchOrg, "--description", "bench forward-auth")
	if err != nil {
		return err
	}
	kp, base, minimal, err := b.startServers(ctx, pin{}, env, kpAddr, key, "")
	if err != nil {
		return err
	}
	defer kp.stop()
	defer base.stop()
	defer minimal.stop()
	baseAddr, minAddr := base.addr, minimal.addr

	// What Traefik's ForwardAuth sends; the baselines get the same bytes.
	b.load.headers = []string{"X-Api-Key: " + key, "X-Forwarded-Method: GET", "X-Forwarded-Uri: /api/orders/42"}
	h := http.Header{}
	for _, line := range b.load.headers {
		name, value, _ := strings.Cut(line, ": ")
		h.Set(name, value)
	}
	for _, srv := range []*server{kp, minimal} {
		status, _, err := srv.get(ctx, authPath, h)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%s: forward-auth with the new key: status %d, %v\n%s", srv.name, status, err, srv.tail())
		}
	}
	kpURL, baseURL := "http://"+kpAddr+authPath, "http://"+baseAddr+authPath
	targets := []struct {
		name string
		srv  *server
		url  string
		rps  *[]float64
		cpu  *[]float64
	}{
		{"keyplane", kp, kpURL, &b.kpRPS, &b.kpCPU},
		{"bare", base, baseURL, &b.baseRPS, nil},
		{"minimal", minimal, "http://" + minAddr + authPath, &b.minRPS, &b.minCPU},
	}

	b.printf("\n== cached forward-auth: closed loop, %d connections, %d rounds of %s each, in turns ==\n", o.conns, o.rounds, o.round)
	b.printf("keyplane (the data plane fully on: usage counting, last use, metrics, limiter), bare (an Echo handler answering 200),\n")
	b.printf("minimal (read the key, CRC32, SHA-256, map lookup, atomic counter, five headers); CPU is the server's, per request\n")
	if b.wrk != nil {
		b.wrk.headers = b.load.headers
		b.printf("closed-loop client: wrk -t1 (%s)\n", b.wrk.bin)
	} else {
		b.printf("closed-loop client: loadgen (wrk not found)\n")
	}
	for _, t := range targets {
		if _, err := b.closed(ctx, t.url, o.warmup, o.conns); err != nil {
			return err
		}
	}
	for r := range o.rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			before := t.srv.cpu()
			res, err := b.closed(ctx, t.url, o.round, o.conns)
			if err != nil {
				return err
			}
			perReq := (t.srv.cpu() - before) / float64(max(1, res.Requests)) * 1e6
			b.printf("round %d  %-8s  %8.0f rps  p50 %.3f ms  p99 %.3f ms  CPU %.1f µs/request%s\n",
				r+1, t.name, res.RPS, res.Latency.P50, res.Latency.P99, perReq, warn(res))
			*t.rps = append(*t.rps, res.RPS)
			if t.cpu != nil {
				*t.cpu = append(*t.cpu, perReq)
			}
		}
	}
	kpMed, baseMed, minMed := median(b.kpRPS), median(b.baseRPS), median(b.minRPS)
	b.printf("median    keyplane %.0f rps, bare %.0f rps, minimal %.0f rps: keyplane/bare %.3f (target ≥ 0.85), minimal/bare %.3f\n",
		kpMed, baseMed, minMed, kpMed/baseMed, minMed/baseMed)
	b.printf("median    CPU per request: keyplane %.1f µs, minimal %.1f µs: ratio %.3f (target ≤ 1.25)\n",
		median(b.kpCPU), median(b.minCPU), median(b.kpCPU)/median(b.minCPU))

	b.printf("\n== database queries per cached verification: /metrics before and after a %s burst ==\n", o.burst)
	before, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	res, err := b.load.closed(ctx, kpURL, o.burst, o.conns)
	if err != nil {
		return err
	}
	after, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	b.burstRequests = res.Requests
	b.burstMisses = delta(before, after, "keyplane_verify_db_reads_total")
	b.printf("%d requests; keyplane counted %.0f verifications, %.0f cache hits, %.0f database reads%s\n",
		res.Requests, delta(before, after, "keyplane_verify_total"), delta(before, after, "keyplane_verify_cache_hits_total"), b.burstMisses, warn(res))
	b.printf("every read the data plane makes is counted (keyplane_verify_db_reads_total): %.6f queries per cached verification (target 0)\n",
		b.burstMisses/float64(max(1, res.Requests)))

	if err := b.restrictionsPart(ctx, env, kp, key); err != nil {
		return err
	}

	// The open loop restarts the servers on CPUs of their own.
	kp.stop()
	base.stop()
	minimal.stop()
	return b.openPart(ctx, env, kpAddr, key)
}

// postgresPart seeds a throwaway database with many keys and measures
// verifications that must read it.
func (b *bench) postgresPart(ctx context.Context) error {
	o := b.o
	b.printf("\n== PostgreSQL: uncached verifications with %d keys ==\n", o.pgKeys)
	if o.pg == "off" {
		b.pgSkipped = "skipped (-pg off)"
		b.printf("%s\n", b.pgSkipped)
		return nil
	}
	db, err := createThrowawayDB(ctx, o.databaseURL)
	if err != nil {
		if o.pg == "on" {
			return fmt.Errorf("PostgreSQL at %s: %w", redact(o.databaseURL), err)
		}
		b.pgSkipped = fmt.Sprintf("skipped: PostgreSQL not usable at %s (%v)", redact(o.databaseURL), err)
		b.printf("%s\n", b.pgSkipped)
		return nil
	}
	defer func() {
		if err := db.drop(); err != nil {
			b.printf("warning: could not drop database %s: %v\n", db.name, err)
		}
	}()
	b.printf("throwaway database %s on %s\n", db.name, redact(o.databaseURL))

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := b.env(addr, filepath.Join(b.tmp, "pg"), db.url)
	if err := b.setUp(ctx, env); err != nil {
		return err
	}
	warm := min(200, o.pgSample/4+1)
	t := time.Now()
	keys, err := seedKeys(ctx, db.url, benchOrg, "kp", o.pgKeys, o.pgSample+warm, o.pgStreams)
	if err != nil {
		return err
	}
	b.pgSeed, b.pgKeys = time.Since(t), o.pgKeys
	b.printf("seeded %d keys with COPY (%d streams) in %.1f s\n", o.pgKeys, o.pgStreams, b.pgSeed.Seconds())

	kp, err := startServer(ctx, "keyplane", pin{}, b.keyplane, []string{"serve"}, env, addr, filepath.Join(b.tmp, "keyplane-pg.log"), "/healthz")
	if err != nil {
		return err
	}
	defer kp.stop()
	warmFile, sampleFile := filepath.Join(b.tmp, "warm-keys.txt"), filepath.Join(b.tmp, "sample-keys.txt")
	if err := writeLines(warmFile, keys[:warm]); err != nil {
		return err
	}
	if err := writeLines(sampleFile, keys[warm:]); err != nil {
		return err
	}
	load := loadgen{bin: b.load.bin, headers: []string{"X-Forwarded-Method: GET", "X-Forwarded-Uri: /api/orders/42"}}
	u := "http://" + addr + authPath
	span := func(n int) time.Duration { return time.Duration(float64(n) / o.pgRate * float64(time.Second)) }
	// Warm the connection pool and the server with other keys first.
	if _, err := load.open(ctx, u, span(warm), o.pgRate, 16, "-keys", warmFile); err != nil {
		return err
	}
	before, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	n := len(keys) - warm
	res, err := load.open(ctx, u, span(n), o.pgRate, 16, "-keys", sampleFile, "-n", strconv.Itoa(n))
	if err != nil {
		return err
	}
	after, err := kp.scrape(ctx)
	if err != nil {
		return err
	}
	b.pgResult = res
	b.pgMisses = delta(before, after, "keyplane_verify_cache_misses_total")
	count := delta(before, after, "keyplane_verify_duration_seconds_count")
	if count > 0 {
		b.pgServerUnder5ms = delta(before, after, `keyplane_verify_duration_seconds_bucket{le="0.005"}`) / count
	}
	b.printf("%d distinct keys, each verified once, open loop at %.0f/s: %d requests, %.0f cache misses (each a database read)%s\n",
		n, o.pgRate, res.Requests, b.pgMisses, warn(res))
	b.printf("client-side forward-auth latency: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms (target p99 < 5 ms)\n",
		res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.Max)
	b.printf("server-side (keyplane_verify_duration_seconds): %.1f%% of these verifications decided within 5 ms\n", 100*b.pgServerUnder5ms)
	if err := b.floodPart(ctx, kp, u, keys[0]); err != nil {
		return err
	}
	// Last: its writes (and the checkpoints after them) would disturb the
	// latencies above.
	return b.importPart(ctx, env)
}

// importPart times `keyplane keys import` of a file of SHA-256 lines, as a
// platform moving its customers' keys would run it.
func (b *bench) importPart(ctx context.Context, env []string) error {
	file := filepath.Join(b.tmp, "import.jsonl")
	lines := make([]string, b.o.importKeys)
	for i := range lines {
		sum := sha256.Sum256([]byte(fmt.Sprintf("legacy_live_bench_%d", i)))
		lines[i] = fmt.Sprintf(`{"sha256": "%x", "external_id": "cus_%d"}`, sum, i)
	}
	if err := writeLines(file, lines); err != nil {
		return err
	}
	t := time.Now()
	out, err := runCLI(ctx, b.keyplane, env, "", "keys", "import", "--org", benchOrg, "--legacy-prefix", "legacy_live_", file)
	if err != nil {
		return err
	}
	b.pgImport = time.Since(t)
	b.printf("keyplane keys import of %d SHA-256 lines: %.1f s wall clock (%s)\n", b.o.importKeys, b.pgImport.Seconds(), strings.TrimSpace(out))
	return nil
}

func (b *bench) summary(total time.Duration) {
	kpMed, baseMed := median(b.kpRPS), median(b.baseRPS)
	ratio := kpMed / baseMed
	b.printf("\n== summary (PRODUCT.md targets; printed, not asserted) ==\n")
	b.printf("cached forward-auth   keyplane %.0f rps vs bare Echo %.0f rps (medians of %d rounds): ratio %.3f  [target ≥ 0.85: %s]\n",
		kpMed, baseMed, len(b.kpRPS), ratio, verdict(ratio >= 0.85))
	cpuRatio := median(b.kpCPU) / median(b.minCPU)
	b.printf("CPU per request       keyplane %.1f µs vs minimal forward-auth %.1f µs (medians): ratio %.3f  [target ≤ 1.25: %s]\n",
		median(b.kpCPU), median(b.minCPU), cpuRatio, verdict(cpuRatio <= 1.25))
	kpP99, baseP99 := median(b.kpOpenP99), median(b.baseOpenP99)
	b.printf("open loop %.0f/s       p99 keyplane %.3f ms, bare %.3f ms, minimal %.3f ms (medians of %d rounds; %s)  [target keyplane within 0.5 ms of bare: %s]\n",
		b.openRate, kpP99, baseP99, median(b.minOpenP99), len(b.kpOpenP99), b.openPin, b.openVerdict(kpP99, baseP99))
	perReq := b.burstMisses / float64(max(1, b.burstRequests))
	queries := verdict(b.burstMisses == 0)
	if reloads := math.Ceil(b.o.burst.Seconds() / safetyTTL.Seconds()); b.burstMisses > 0 && b.burstMisses <= reloads {
		queries = fmt.Sprintf("met but for the safety-TTL reload (at most %.0f in %s for one key)", reloads, b.o.burst)
	}
	b.printf("db queries / cached   %.6f (%.0f database reads in %d verifications)  [target 0: %s]\n",
		perReq, b.burstMisses, b.burstRequests, queries)
	for _, line := range b.restrictions.summaryLines(b.o.burst) {
		b.printf("%s\n", line)
	}
	if b.pgSkipped != "" {
		b.printf("uncached, PostgreSQL  %s\n", b.pgSkipped)
	} else {
		r := b.pgResult
		b.printf("uncached, %d keys  p50 %.3f ms, p99 %.3f ms over %d keys once each (seeded in %.1f s)  [target p99 < 5 ms: %s]\n",
			b.pgKeys, r.Latency.P50, r.Latency.P99, r.Requests, b.pgSeed.Seconds(), verdict(r.Latency.P99 < 5 && r.ok()))
	}
	if b.pgImport > 0 {
		b.printf("import, PostgreSQL    %d SHA-256 lines in %.1f s with keyplane keys import  [target < 30 s for 100,000: %s]\n",
			b.o.importKeys, b.pgImport.Seconds(), verdict(b.o.importKeys < 100_000 || b.pgImport < 30*time.Second))
	}
	if b.flood != nil {
		b.printf("%s\n", b.flood.summaryLine())
	}
	b.printf("bench run took %s\n", total.Round(time.Second))
}

// openVerdict judges keyplane's open-loop p99 against bare's, unless the
// client itself ran late: a round whose requests left more than the 0.5 ms
// margin after they were due measured the client as much as the server.
func (b *bench) openVerdict(kpP99, baseP99 float64) string {
	const margin = 0.5
	if lag := slices.Max(append([]float64{0}, b.openLagP99...)); lag > margin {
		return fmt.Sprintf("not judged: the client's send lag reached p99 %.3f ms in a round, more than the %.1f ms margin", lag, margin)
	}
	return verdict(kpP99-baseP99 <= margin && b.kpOpenOK)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func warn(r loadResult) string {
	if r.ok() {
		return ""
	}
	return "  WARNING: not all 200: " + r.statuses()
}

func sendLagP99(r loadResult) float64 {
	if r.SendLag == nil {
		return 0
	}
	return r.SendLag.P99
}

func delta(before, after metrics, name string) float64 { return after.sum(name) - before.sum(name) }

func writeLines(name string, lines []string) error {
	return os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
