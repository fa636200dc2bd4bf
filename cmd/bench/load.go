package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadResult is what `loadgen -json` prints.
type loadResult struct {
	Mode      string           `json:"mode"`
	Requests  int64            `json:"requests"`
	Errors    int64            `json:"errors"`
	LastError string           `json:"last_error"`
	Status    map[string]int64 `json:"status"`
	RPS       float64          `json:"rps"`
	Seconds   float64          `json:"seconds"`
	Latency   latency          `json:"latency_ms"`
	SendLag   *latency         `json:"send_lag_ms"`
}

type latency struct {
	P50, P90, P99, P999, Max, Mean float64
}

func (l *latency) UnmarshalJSON(b []byte) error {
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = latency{P50: m["p50"], P90: m["p90"], P99: m["p99"], P999: m["p999"], Max: m["max"], Mean: m["mean"]}
	return nil
}

// ok reports whether every request completed with 200.
func (r loadResult) ok() bool {
	return r.Errors == 0 && r.Status["200"] == r.Requests && r.Requests > 0
}

// statuses formats the status counts, for warnings.
func (r loadResult) statuses() string {
	var parts []string
	for code, n := range r.Status {
		parts = append(parts, code+"×"+strconv.FormatInt(n, 10))
	}
	slices.Sort(parts)
	s := strings.Join(parts, " ")
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d errors (last: %s)", r.Errors, r.LastError)
	}
	return s
}

// loadgen runs the load generator and returns its result.
type loadgen struct {
	bin     string
	headers []string
	on      pin
}

func (g loadgen) run(ctx context.Context, url string, d time.Duration, args ...string) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	full := []string{"-url", url, "-d", d.String(), "-json"}
	for _, h := range g.headers {
		full = append(full, "-H", h)
	}
	full = append(full, args...)
	cmd := g.on.command(ctx, g.bin, full...)
	dieWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("loadgen %s: %w: %s", url, err, strings.TrimSpace(stderr.String()))
	}
	var r loadResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return loadResult{}, fmt.Errorf("loadgen output: %w", err)
	}
	return r, nil
}

// closed runs a closed-loop burst with conns connections.
func (g loadgen) closed(ctx context.Context, url string, d time.Duration, conns int) (loadResult, error) {
	return g.run(ctx, url, d, "-c", strconv.Itoa(conns))
}

// open runs at a fixed arrival rate.
func (g loadgen) open(ctx context.Context, url string, d time.Duration, rate float64, conns int, extra ...string) (loadResult, error) {
	return g.run(ctx, url, d, append([]string{"-rate", strconv.FormatFloat(rate, 'f', 0, 64), "-c", strconv.Itoa(conns)}, extra...)...)
}

// metrics is one scrape of /metrics: every sample, by its series (name and
// labels as written).
type metrics map[string]float64

func parseMetrics(body []byte) metrics {
	m := metrics{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// sum adds every series of the metric name, whatever its labels.
func (m metrics) sum(name string) float64 {
	var total float64
	for series, v := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			total += v
		}
	}
	return total
}

func (s *server) scrape(ctx context.Context) (metrics, error) {
	status, body, err := s.get(ctx, "/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.name, err)
	}
	if status != 200 {
		return nil, fmt.Errorf("scrape %s: status %d", s.name, status)
	}
	return parseMetrics(body), nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
