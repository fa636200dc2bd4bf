package main

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// drainGrace bounds how long requests may still run after the load ends;
// a server that stops answering turns them into errors, not a hang.
const drainGrace = 5 * time.Second

// plan is one load run.
type plan struct {
	addr     string
	conns    int
	duration time.Duration
	rate     float64       // open loop: requests per second; 0 means closed loop
	tick     time.Duration // open loop: the scheduler's shortest sleep
	max      int           // at most this many requests; 0 means no cap
	requests requests
}

// requests yields the bytes of request i.
type requests struct {
	fixed []byte
	build func(i int) []byte // per request, when each carries another key
	n     int                // how many build can make; 0 with fixed
}

func (r requests) at(i int) []byte {
	if r.build != nil {
		return r.build(i)
	}
	return r.fixed
}

// worker is one connection's share of the results.
type worker struct {
	conn    conn
	latency []time.Duration
	lag     []time.Duration // open loop: actual send time minus scheduled time
	status  [600]int64
	errors  int64
	lastErr error
	last    time.Time
}

func (w *worker) do(req []byte, from time.Time) {
	status, err := w.conn.do(req)
	now := time.Now()
	if err != nil {
		w.errors++
		w.lastErr = err
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			time.Sleep(10 * time.Millisecond) // do not spin on a refusing port
		}
		return
	}
	w.latency = append(w.latency, now.Sub(from))
	if status < len(w.status) {
		w.status[status]++
	}
	w.last = now
}

// limit is how many requests the plan may send; -1 means unbounded.
func (p plan) limit() int {
	n := -1
	if p.requests.build != nil {
		n = p.requests.n
	}
	if p.max > 0 && (n < 0 || p.max < n) {
		n = p.max
	}
	return n
}

// closedLoop keeps conns connections busy, each sending its next request
// as soon as the previous answer arrives, for the plan's duration.
func closedLoop(p plan) result {
	start := time.Now()
	end := start.Add(p.duration)
	limit := p.limit()
	var next atomic.Int64
	workers := make([]*worker, p.conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{conn: conn{addr: p.addr, deadline: end.Add(drainGrace)}, latency: make([]time.Duration, 0, 1<<14)}
		workers[i] = w
		wg.Go(func() {
			defer w.conn.close()
			for time.Now().Before(end) {
				n := int(next.Add(1) - 1)
				if limit >= 0 && n >= limit {
					return
				}
				w.do(p.requests.at(n), time.Now())
			}
		})
	}
	wg.Wait()
	return summarize("closed", p, start, workers, 0)
}

// result is what a run reports; its JSON is what cmd/bench reads.
type result struct {
	Mode        string           `json:"mode"`
	Target      string           `json:"target"`
	Connections int              `json:"connections"`
	Rate        float64          `json:"rate,omitempty"`
	Scheduled   int              `json:"scheduled,omitempty"`
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"`
	Errors      int64            `json:"errors"`
	LastError   string           `json:"last_error,omitempty"`
	Status      map[string]int64 `json:"status"`
	RPS         float64          `json:"rps"`
	Latency     percentiles      `json:"latency_ms"`
	SendLag     *percentiles     `json:"send_lag_ms,omitempty"`
}

// percentiles are in milliseconds.
type percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func summarize(mode string, p plan, start time.Time, workers []*worker, scheduled int) result {
	r := result{Mode: mode, Target: p.addr, Connections: p.conns, Rate: p.rate, Scheduled: scheduled, Status: map[string]int64{}}
	var all, lag []time.Duration
	last := start
	for _, w := range workers {
		all = append(all, w.latency...)
		lag = append(lag, w.lag...)
		r.Errors += w.errors
		if w.lastErr != nil {
			r.LastError = w.lastErr.Error()
		}
		for code, n := range w.status {
			if n > 0 {
				r.Status[strconv.Itoa(code)] += n
			}
		}
		if w.last.After(last) {
			last = w.last
		}
	}
	r.Requests = int64(len(all))
	r.Seconds = last.Sub(start).Seconds()
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	r.Latency = percentilesOf(all)
	if mode == "open" {
		l := percentilesOf(lag)
		r.SendLag = &l
	}
	return r
}

func percentilesOf(d []time.Duration) percentiles {
	if len(d) == 0 {
		return percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.999999) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return percentiles{
		P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d))),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
