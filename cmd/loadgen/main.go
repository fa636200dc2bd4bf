// Command loadgen is the HTTP load client of Keyplane's benchmarks. It
// speaks HTTP/1.1 over keep-alive connections to a loopback address only.
//
// Closed loop (maximum throughput): -c connections, each sending its next
// request when the previous answer arrives, for -d:
//
//	loadgen -url http://127.0.0.1:8080/v1/auth -c 32 -d 5s -H 'X-Api-Key: kp_sk_live_...'
//
// Open loop (latency at a fixed arrival rate): -rate requests per second for
// -d, scheduled independently of the answers; each latency is measured from
// the time its request was due, so a stalled server cannot hide its stalls
// by slowing the client down (no coordinated omission):
//
//	loadgen -url ... -rate 5000 -d 10s
//
// -keys FILE sends each request with the next key of FILE (one a line) in
// -key-header, never reusing one, for measuring uncached verifications.
// It prints count, requests per second, statuses and latency percentiles;
// -json prints the same as one JSON object.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%q is not \"Name: value\"", v)
	}
	*h = append(*h, v)
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://127.0.0.1:8080/v1/auth", "target URL (loopback only)")
	method := fs.String("X", "GET", "request method")
	conns := fs.Int("c", 32, "connections")
	duration := fs.Duration("d", 5*time.Second, "how long to send")
	rate := fs.Float64("rate", 0, "open loop: requests per second (0: closed loop)")
	tick := fs.Duration("tick", 100*time.Microsecond, "open loop: the scheduler's period; requests due within one leave together, late by at most this")
	maxN := fs.Int("n", 0, "stop after this many requests (0: no cap)")
	keysFile := fs.String("keys", "", "file of keys, one a line: each request carries the next one")
	keyHeader := fs.String("key-header", "X-Api-Key", "header that carries a key from -keys")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var headers headerFlags
	fs.Var(&headers, "H", `request header "Name: value" (repeatable)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *conns < 1 || *conns > 10_000:
		return errors.New("-c must be 1 to 10000")
	case *duration <= 0 || *duration > time.Hour:
		return errors.New("-d must be positive and at most 1h")
	case *rate < 0 || *rate > 1e6:
		return errors.New("-rate must be 0 to 1000000")
	case *tick < 10*time.Microsecond || *tick > 10*time.Millisecond:
		return errors.New("-tick must be 10µs to 10ms")
	}
	addr, path, host, err := parseTarget(*target)
	if err != nil {
		return err
	}

	head := *method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: keyplane-loadgen\r\n"
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		head += strings.TrimSpace(name) + ": " + strings.TrimSpace(value) + "\r\n"
	}
	p := plan{addr: addr, conns: *conns, duration: *duration, rate: *rate, tick: *tick, max: *maxN}
	if *keysFile != "" {
		keys, err := readKeys(*keysFile)
		if err != nil {
			return err
		}
		prefix := head + *keyHeader + ": "
		p.requests = requests{n: len(keys), build: func(i int) []byte { return []byte(prefix + keys[i] + "\r\n\r\n") }}
	} else {
		p.requests = requests{fixed: []byte(head + "\r\n")}
	}

	var r result
	if p.rate > 0 {
		r = openLoop(p)
	} else {
		r = closedLoop(p)
	}
	r.Target = *target
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printResult(stdout, r)
	}
	if r.Requests == 0 {
		return fmt.Errorf("no request completed (%d errors; last: %s)", r.Errors, r.LastError)
	}
	return nil
}

// parseTarget accepts only http URLs on a loopback address: the load stays
// on this machine.
func parseTarget(raw string) (addr, path, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", "", "", fmt.Errorf("-url %q: want http://127.0.0.1:PORT/path", raw)
	}
	hostname, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	ip := net.ParseIP(hostname)
	if hostname == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || !ip.IsLoopback() {
		return "", "", "", fmt.Errorf("-url %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", raw)
	}
	path = u.RequestURI()
	return net.JoinHostPort(ip.String(), port), path, u.Host, nil
}

func readKeys(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" {
			if strings.ContainsAny(k, "\r\n") {
				return nil, fmt.Errorf("%s: a key holds a line break", name)
			}
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", name)
	}
	return keys, nil
}

func printResult(w io.Writer, r result) {
	fmt.Fprintf(w, "%s loop %s, %d connections", r.Mode, r.Target, r.Connections)
	if r.Mode == "open" {
		fmt.Fprintf(w, ", %.0f/s scheduled (%d requests)", r.Rate, r.Scheduled)
	}
	fmt.Fprintf(w, "\n  %d requests in %.2f s: %.0f rps; %d errors\n", r.Requests, r.Seconds, r.RPS, r.Errors)
	if r.LastError != "" {
		fmt.Fprintf(w, "  last error: %s\n", r.LastError)
	}
	codes := make([]string, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprint(w, "  status:")
	for _, c := range codes {
		fmt.Fprintf(w, " %s×%d", c, r.Status[c])
	}
	fmt.Fprintln(w)
	l := r.Latency
	fmt.Fprintf(w, "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	if s := r.SendLag; s != nil {
		fmt.Fprintf(w, "  send lag ms (due → sent): p50 %.3f  p99 %.3f  max %.3f\n", s.P50, s.P99, s.Max)
	}
}
