package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrk runs closed-loop rounds with wrk (one thread, as the client must
// leave the server's cores to the server), when it is installed: a C
// client takes less of a 2-core machine than loadgen, so the ratios
// measure the servers rather than the client. headers go with every
// request.
type wrk struct {
	bin     string
	headers []string
	on      pin
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkPercent  = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)`)
)

// closed runs wrk against url for d with conns connections.
func (w wrk) closed(ctx context.Context, url string, d time.Duration, conns int) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(secs) + "s", "--latency"}
	for _, h := range w.headers {
		args = append(args, "-H", h)
	}
	cmd := w.on.command(ctx, w.bin, append(args, url)...)
	dieWithParent(cmd)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(stderr.String()))
	}
	return parseWrk(out.String())
}

// parseWrk reads wrk's report into a loadResult.
func parseWrk(s string) (loadResult, error) {
	r := loadResult{Mode: "closed (wrk)", Status: map[string]int64{}}
	m := wrkRequests.FindStringSubmatch(s)
	rps := wrkRPS.FindStringSubmatch(s)
	if m == nil || rps == nil {
		return r, fmt.Errorf("wrk printed no totals:\n%s", s)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Seconds = toMillis(m[2], m[3]) / 1000
	r.RPS, _ = strconv.ParseFloat(rps[1], 64)
	var bad int64
	if n := wrkNon2xx.FindStringSubmatch(s); n != nil {
		bad, _ = strconv.ParseInt(n[1], 10, 64)
		r.Status["other"] = bad
	}
	r.Status["200"] = r.Requests - bad
	if e := wrkSocket.FindStringSubmatch(s); e != nil {
		for _, v := range e[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Errors += n
		}
		if r.Errors > 0 {
			r.LastError = e[0]
		}
	}
	for _, p := range wrkPercent.FindAllStringSubmatch(s, -1) {
		v := toMillis(p[2], p[3])
		switch p[1] {
		case "50":
			r.Latency.P50 = v
		case "90":
			r.Latency.P90 = v
		case "99":
			r.Latency.P99 = v
		}
	}
	return r, nil
}

func toMillis(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return f / 1000
	case "s":
		return f * 1000
	case "m":
		return f * 60_000
	}
	return f
}
