// Command bench measures Keyplane's data plane against the targets of
// PRODUCT.md ("Speed it must reach") and prints the figures; it asserts
// nothing. It builds keyplane, baseline (a bare Echo server answering 200,
// or with -mode forward-auth a minimal forward-auth handler) and loadgen,
// then, all on 127.0.0.1 and bounded in time:
//
//  1. SQLite: sets up a user, an organization and a private key with the
//     keyplane CLI in a temporary data dir, starts keyplane, bare and
//     minimal, and runs closed-loop rounds in turns (wrk when installed);
//     prints each one's median requests per second, keyplane/bare (target
//     ≥ 0.85) and the servers' CPU time per request, keyplane/minimal
//     (target ≤ 1.25).
//  2. Database queries per cached verification, from keyplane's /metrics
//     before and after a burst (target 0).
//     Then keys with a quota and with a report-only restriction against the
//     plain key on the same server, in turns: their requests per second and
//     CPU per request as ratios to the plain key's, and the database reads
//     of a burst on the metered key (target 0).
//  3. Open loop: the three servers restarted on a CPU of their own, the
//     load client on the others; at half keyplane's peak there, keyplane's
//     p99 against bare's (target: within 0.5 ms), medians of three rounds.
//  4. PostgreSQL (TEST_DATABASE_URL, when reachable): a throwaway database
//     seeded with 1,000,000 keys by COPY, then a sample of real keys each
//     verified once, so each is a cache miss (target p99 < 5 ms).
//  5. Then a flood of 10,000 distinct unknown keys per second while a
//     cached key is verified at 500/s: database reads per 1,000 unknown
//     keys (target ≤ 1) and the cached key's p99, quiet and flooded
//     (target: within 1 ms, under 5 ms); last, keyplane keys import of
//     100,000 SHA-256 lines (target < 30 s).
//
// Run it from the module: go run ./cmd/bench [-h for the knobs].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the knobs; the defaults keep a run under two minutes on two
// cores.
type options struct {
	rounds      int
	round       time.Duration
	warmup      time.Duration
	conns       int
	open        time.Duration
	openConns   int
	burst       time.Duration
	pg          string
	pgKeys      int
	pgSample    int
	pgRate      float64
	pgStreams   int
	importKeys  int
	client      string
	timeout     time.Duration
	keep        bool
	databaseURL string
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 5, "closed-loop rounds per target")
	fs.DurationVar(&o.round, "round", 5*time.Second, "length of one closed-loop round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "closed-loop warm-up per target, not counted")
	fs.IntVar(&o.conns, "c", 16, "closed-loop connections")
	fs.DurationVar(&o.open, "open", 10*time.Second, "open-loop length")
	fs.IntVar(&o.openConns, "open-c", 32, "open-loop connections")
	fs.DurationVar(&o.burst, "burst", 3*time.Second, "burst measured for database queries per cached verification")
	fs.StringVar(&o.pg, "pg", "auto", "PostgreSQL part: auto (when reachable), on (fail if not), off")
	fs.IntVar(&o.pgKeys, "pg-keys", 1_000_000, "keys seeded into PostgreSQL")
	fs.IntVar(&o.pgSample, "pg-sample", 2000, "distinct keys verified once each (uncached)")
	fs.Float64Var(&o.pgRate, "pg-rate", 200, "open-loop rate of the uncached verifications, per second")
	fs.IntVar(&o.pgStreams, "pg-streams", 2, "parallel COPY streams when seeding")
	fs.StringVar(&o.client, "client", "auto", "closed-loop client: auto (wrk when installed), wrk or loadgen")
	fs.IntVar(&o.importKeys, "import-keys", 100_000, "SHA-256 lines imported with keyplane keys import (PostgreSQL part)")
	fs.DurationVar(&o.timeout, "timeout", 9*time.Minute, "the whole run stops after this")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, logs, SQLite data)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.rounds < 1, o.round <= 0, o.conns < 1, o.open <= 0, o.openConns < 1, o.burst <= 0:
		return o, errors.New("rounds, durations and connections must be positive")
	case o.client != "auto" && o.client != "wrk" && o.client != "loadgen":
		return o, errors.New("-client must be auto, wrk or loadgen")
	case o.pg != "auto" && o.pg != "on" && o.pg != "off":
		return o, errors.New("-pg must be auto, on or off")
	case o.pgKeys < 1, o.pgSample < 1, o.pgSample > o.pgKeys/2, o.pgRate <= 0, o.pgStreams < 1, o.importKeys < 1:
		return o, errors.New("-pg-keys, -pg-sample (at most half the keys), -pg-rate, -pg-streams and -import-keys must be positive")
	}
	o.databaseURL = getenv("TEST_DATABASE_URL")
	if o.databaseURL == "" {
		o.databaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	began := time.Now()

	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "keyplane-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stdout, "temporary directory (kept):", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "bin")
	t := time.Now()
	if err := buildBinaries(ctx, root, bin); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built keyplane, baseline and loadgen in %.1f s\n", time.Since(t).Seconds())

	b := &bench{o: o, out: stdout, tmp: tmp, keyplane: filepath.Join(bin, "keyplane"), baseline: filepath.Join(bin, "baseline"),
		load: loadgen{bin: filepath.Join(bin, "loadgen")}}
	if o.client != "loadgen" {
		if path, err := exec.LookPath("wrk"); err == nil {
			b.wrk = &wrk{bin: path}
		} else if o.client == "wrk" {
			return errors.New("-client wrk: wrk is not installed (apt-get install -y wrk)")
		}
	}
	if err := b.sqlitePart(ctx); err != nil {
		return err
	}
	if err := b.postgresPart(ctx); err != nil {
		return err
	}
	b.summary(time.Since(began))
	return nil
}
