package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// receiver is an httptest server that records what it gets and answers
// with the status its answer func picks.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int) int
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if r.answer != nil {
			code = r.answer(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func TestDeliveryToAReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var logs bytes.Buffer
		f := newFixture(t, db, Options{AllowPrivate: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		rcv := newReceiver(t, nil)
		c := f.endpoint(t, rcv.URL+"/hook", KeyCreated)
		f.endpoint(t, rcv.URL+"/other", KeyRevoked) // not subscribed
		paused := f.endpoint(t, rcv.URL+"/paused", AllEvents)
		if _, err := f.svc.SetPaused(ctx, f.orgID, paused.Endpoint.ID, true, admin); err != nil {
			t.Fatal(err)
		}
		data := map[string]any{"id": "01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70", "hint": "kp_sk_live_…a9Qz"}
		if err := f.svc.Enqueue(ctx, f.orgID, KeyCreated, data); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Enqueue(ctx, f.orgID, "key.bogus", data); err == nil {
			t.Error("an unknown event type was queued")
		}
		list := f.deliveries(t)
		if len(list) != 1 || list[0].EndpointID != c.Endpoint.ID || list[0].Status != Pending || !ValidDeliveryID(list[0].ID) {
			t.Fatalf("deliveries %+v, want one pending to the subscribed endpoint", list)
		}

		reg := prometheus.NewRegistry()
		d := NewDispatcher(f.svc, DispatcherOptions{Registerer: reg})
		if n, err := d.DispatchDue(ctx); n != 1 || err != nil {
			t.Fatalf("DispatchDue = %d, %v", n, err)
		}
		reqs := rcv.requests()
		if len(reqs) != 1 {
			t.Fatalf("receiver got %d requests", len(reqs))
		}
		r := reqs[0]
		if err := verifyStandard(c.Secret, r.header, r.body, f.clock.Now(), 5*time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		if r.header.Get("webhook-id") != list[0].ID || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.header)
		}
		var body struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Type != KeyCreated || body.Timestamp != "2026-03-01T12:00:00Z" || body.Data["hint"] != "kp_sk_live_…a9Qz" {
			t.Errorf("body %s (%v)", r.body, err)
		}
		if bytes.Contains(r.body, []byte("whsec_")) || strings.Contains(logs.String(), strings.TrimPrefix(c.Secret, "whsec_")) {
			t.Error("the secret leaked into the body or the logs")
		}
		got, attempts, err := f.svc.Delivery(ctx, f.orgID, c.Endpoint.ID, list[0].ID)
		if err != nil || got.Status != Succeeded || got.Attempts != 1 || got.LastStatusCode == nil || *got.LastStatusCode != 200 || got.NextAttemptAt != nil || got.LeaseID != nil {
			t.Errorf("delivery after success %+v, %v", got, err)
		}
		if len(attempts) != 1 || attempts[0].Outcome != OutcomeSucceeded || *attempts[0].StatusCode != 200 {
			t.Errorf("attempts %+v", attempts)
		}
		if v := counter(d, OutcomeSucceeded); v != 1 {
			t.Errorf("succeeded metric %v", v)
		}
		if n, _ := d.DispatchDue(ctx); n != 0 {
			t.Errorf("a succeeded delivery was sent again (%d)", n)
		}

		// A test event goes to the one endpoint, whatever it wants.
		td, err := f.svc.SendTest(ctx, f.orgID, c.Endpoint.ID, admin)
		if err != nil || td.EventType != TestEvent || td.EndpointID != c.Endpoint.ID {
			t.Fatalf("SendTest = %+v, %v", td, err)
		}
		if len(f.deliveries(t)) != 2 {
			t.Errorf("a test event reached other endpoints")
		}
		d.DispatchDue(ctx)
		if got := f.get(t, td.ID); got.Status != Succeeded {
			t.Errorf("test delivery %+v", got)
		}
		// Resend: a new attempt of a finished delivery, now.
		if _, err := f.svc.Resend(ctx, f.orgID, c.Endpoint.ID, td.ID); err != nil {
			t.Fatal(err)
		}
		d.DispatchDue(ctx)
		if got := f.get(t, td.ID); got.Status != Succeeded || got.Attempts != 2 {
			t.Errorf("resent delivery %+v", got)
		}
		if n := len(rcv.requests()); n != 3 {
			t.Errorf("receiver got %d requests, want 3", n)
		}
		page, more, err := f.svc.Deliveries(ctx, f.orgID, c.Endpoint.ID, DeliveryPage{Size: 1})
		if err != nil || len(page) != 1 || !more || page[0].ID != td.ID {
			t.Errorf("first page %+v more=%v %v", page, more, err)
		}
		page, more, _ = f.svc.Deliveries(ctx, f.orgID, c.Endpoint.ID, DeliveryPage{Size: 1, Before: page[0].ID})
		if len(page) != 1 || more || page[0].ID != list[0].ID {
			t.Errorf("second page %+v more=%v", page, more)
		}
		last, err := f.svc.LastDeliveries(ctx, f.orgID)
		if err != nil || last[c.Endpoint.ID].ID != td.ID || len(last) != 1 {
			t.Errorf("LastDeliveries = %v, %v", last, err)
		}
	})
}

func TestRetriesFollowTheSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{AllowPrivate: true})
		rcv := newReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		c := f.endpoint(t, rcv.URL)
		f.svc.Enqueue(ctx, f.orgID, KeyRevoked, map[string]string{"id": "k"})
		d := NewDispatcher(f.svc, DispatcherOptions{})
		id := f.deliveries(t)[0].ID
		start := f.clock.Now()

		d.DispatchDue(ctx)
		got := f.get(t, id)
		if got.Status != Pending || got.Attempts != 1 || !got.NextAttemptAt.Equal(start.Add(5*time.Second)) || *got.LastStatusCode != 503 || got.LastError != "answered 503" {
			t.Fatalf("after the first failure %+v", got)
		}
		f.clock.Advance(4 * time.Second)
		if n, _ := d.DispatchDue(ctx); n != 0 {
			t.Fatal("retried before 5 s")
		}
		f.clock.Advance(time.Second)
		d.DispatchDue(ctx)
		got = f.get(t, id)
		if got.Attempts != 2 || !got.NextAttemptAt.Equal(start.Add(5*time.Second+5*time.Minute)) {
			t.Fatalf("after the second failure %+v", got)
		}
		f.clock.Advance(5*time.Minute - time.Second)
		if n, _ := d.DispatchDue(ctx); n != 0 {
			t.Fatal("retried before 5 min")
		}
		f.clock.Advance(time.Second)
		d.DispatchDue(ctx)
		got, attempts, _ := f.svc.Delivery(ctx, f.orgID, c.Endpoint.ID, id)
		if got.Status != Succeeded || got.Attempts != 3 || len(attempts) != 3 {
			t.Fatalf("after the third attempt %+v, %d attempts", got, len(attempts))
		}
		for i, r := range rcv.requests() {
			if r.header.Get("webhook-id") != id {
				t.Errorf("request %d has webhook-id %q", i, r.header.Get("webhook-id"))
			}
			if err := verifyStandard(c.Secret, r.header, r.body, f.clock.Now(), 10*time.Minute); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
		if a := attempts[2]; a.Outcome != OutcomeFailed || *a.StatusCode != 503 || !a.At.Equal(start) {
			t.Errorf("oldest attempt %+v", a)
		}
		if counter(d, OutcomeRetried) != 2 || counter(d, OutcomeSucceeded) != 1 {
			t.Error("metrics do not count two retries and a success")
		}
	})
}

func TestFailsAfterTheLastRetry(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	f := newFixture(t, db, Options{AllowPrivate: true})
	rcv := newReceiver(t, func(int) int { return http.StatusFound })
	f.endpoint(t, rcv.URL)
	f.svc.Enqueue(ctx, f.orgID, KeyRevoked, nil)
	d := NewDispatcher(f.svc, DispatcherOptions{})
	id := f.deliveries(t)[0].ID
	var waited time.Duration
	for i, delay := range append(append([]time.Duration{}, Schedule...), 0) {
		if n, _ := d.DispatchDue(ctx); n != 1 {
			t.Fatalf("attempt %d not made", i+1)
		}
		f.clock.Advance(delay)
		waited += delay
	}
	got := f.get(t, id)
	if got.Status != Failed || got.Attempts != 8 || got.NextAttemptAt != nil || !strings.Contains(got.LastError, "redirects are not followed") {
		t.Errorf("after eight attempts %+v", got)
	}
	if waited != 5*time.Second+5*time.Minute+30*time.Minute+2*time.Hour+5*time.Hour+20*time.Hour {
		t.Errorf("schedule adds up to %s", waited)
	}
	f.clock.Advance(48 * time.Hour)
	if n, _ := d.DispatchDue(ctx); n != 0 {
		t.Error("a failed delivery was tried again")
	}
	if counter(d, OutcomeFailed) != 1 || counter(d, OutcomeRetried) != 7 {
		t.Error("metrics do not count seven retries and one failure")
	}
}

func TestAHangingReceiverBlocksNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := newFixture(t, db, Options{AllowPrivate: true, Now: time.Now})
		hang := hangingReceiver(t)
		good := newReceiver(t, nil)
		f.endpoint(t, hang.URL)
		f.endpoint(t, good.URL)
		d := NewDispatcher(f.svc, DispatcherOptions{Timeout: 700 * time.Millisecond, PollInterval: 20 * time.Millisecond, Concurrency: 2, PerEndpoint: 1})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		start := time.Now()
		f.svc.Enqueue(ctx, f.orgID, KeyCreated, nil)
		f.svc.Enqueue(ctx, f.orgID, KeyUpdated, nil)
		waitFor(t, 5*time.Second, func() bool { return len(good.requests()) == 2 })
		if el := time.Since(start); el >= 700*time.Millisecond {
			t.Errorf("the good receiver waited %s behind the hanging one", el)
		}
		waitFor(t, 5*time.Second, func() bool {
			var n int64
			db.Model(&Delivery{}).Where("attempts = 1 AND status = ? AND last_error LIKE ?", Pending, "no answer within%").Count(&n)
			return n == 2
		})
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	})
}

// TestABacklogBehindAHangingReceiverBlocksNoOne: an endpoint that hangs
// with a long backlog (more than a claim reads at once) does not hold up
// another endpoint's delivery queued after it.
func TestABacklogBehindAHangingReceiverBlocksNoOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := newFixture(t, db, Options{AllowPrivate: true, Now: time.Now})
		hang := hangingReceiver(t)
		f.endpoint(t, hang.URL)
		for range 40 {
			if err := f.svc.Enqueue(ctx, f.orgID, KeyUpdated, nil); err != nil {
				t.Fatal(err)
			}
		}
		good := newReceiver(t, nil)
		f.endpoint(t, good.URL)
		if err := f.svc.Enqueue(ctx, f.orgID, KeyCreated, nil); err != nil { // to both
			t.Fatal(err)
		}
		d := NewDispatcher(f.svc, DispatcherOptions{Timeout: 5 * time.Second, PollInterval: 20 * time.Millisecond, Concurrency: 2, PerEndpoint: 1})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		start := time.Now()
		waitFor(t, 4*time.Second, func() bool { return len(good.requests()) == 1 })
		if el := time.Since(start); el >= 2*time.Second {
			t.Errorf("the good receiver waited %s behind the hanging one's backlog", el)
		}
		cancel()
		<-done
	})
}

// hangingReceiver is a receiver that answers nothing until the test ends
// or the request is given up.
func hangingReceiver(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	return hang
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownLeavesInFlightAttemptsForReclaim(t *testing.T) {
	db := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, db, Options{AllowPrivate: true, Now: time.Now})
	var hits atomic.Int32
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	f.endpoint(t, hang.URL)
	f.svc.Enqueue(ctx, f.orgID, KeyCreated, nil)
	d := NewDispatcher(f.svc, DispatcherOptions{Timeout: time.Minute, ShutdownGrace: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor(t, 5*time.Second, func() bool { return hits.Load() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop after its grace")
	}
	got := f.deliveries(t)[0]
	if got.Status != Pending || got.Attempts != 0 || got.LeaseID != nil || got.NextAttemptAt.After(time.Now()) {
		t.Errorf("an interrupted delivery %+v: want pending, no attempt recorded, due again", got)
	}
}

func TestAPendingDeliverySurvivesARestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{AllowPrivate: true})
		rcv := newReceiver(t, nil)
		f.endpoint(t, rcv.URL)
		f.svc.Enqueue(ctx, f.orgID, KeyCreated, nil)
		f.svc.Enqueue(ctx, f.orgID, KeyUpdated, nil)
		// A dispatcher claims both, then its process dies mid-attempt.
		crashed := NewDispatcher(f.svc, DispatcherOptions{Lease: time.Minute, Timeout: time.Second})
		jobs, err := crashed.claim(ctx, 1)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim = %d, %v", len(jobs), err)
		}
		// A new process: a new service and dispatcher on the same database.
		svc2 := NewService(db, Options{Box: testBox(t), Now: f.clock.Now, AllowPrivate: true})
		d2 := NewDispatcher(svc2, DispatcherOptions{})
		if n, _ := d2.DispatchDue(ctx); n != 1 {
			t.Fatalf("the unclaimed delivery: %d sent", n)
		}
		f.clock.Advance(time.Minute)
		if n, _ := d2.DispatchDue(ctx); n != 1 {
			t.Fatalf("the delivery whose lease ended: %d sent", n)
		}
		for _, dl := range f.deliveries(t) {
			if dl.Status != Succeeded {
				t.Errorf("delivery %+v", dl)
			}
		}
		if n := len(rcv.requests()); n != 2 {
			t.Errorf("receiver got %d", n)
		}
		// The crashed dispatcher's late result does not overwrite anything.
		if err := crashed.record(jobs[0], f.clock.Now(), result{outcome: OutcomeFailed, err: "late"}); err != nil {
			t.Fatal(err)
		}
		if got := f.get(t, jobs[0].ID); got.Status != Succeeded || got.LastError != "" {
			t.Errorf("a lost lease overwrote the delivery: %+v", got)
		}
	})
}

func TestTwoDispatchersDeliverEachMessageOnce(t *testing.T) {
	dsn, _ := storetest.SchemaURL(t)
	open := func() *store.DB {
		db, err := store.Open(context.Background(), store.Options{DatabaseURL: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1, db2 := open(), open()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFixture(t, db1, Options{AllowPrivate: true, Now: time.Now})
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}))
	defer rcv.Close()
	f.endpoint(t, rcv.URL)
	const n = 60
	for i := 0; i < n; i++ {
		if err := f.svc.Enqueue(ctx, f.orgID, KeyUpdated, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	svc2 := NewService(db2, Options{Box: testBox(t), Now: time.Now, AllowPrivate: true})
	var wg sync.WaitGroup
	for _, svc := range []*Service{f.svc, svc2} {
		d := NewDispatcher(svc, DispatcherOptions{Concurrency: 4, PollInterval: 5 * time.Millisecond})
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(ctx) }()
	}
	waitFor(t, 20*time.Second, func() bool {
		var left int64
		db1.Model(&Delivery{}).Where("status <> ?", Succeeded).Count(&left)
		return left == 0
	})
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("receiver saw %d distinct ids, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
	var attempts int64
	db1.Model(&Attempt{}).Count(&attempts)
	if attempts != n {
		t.Errorf("%d attempts recorded, want %d", attempts, n)
	}
}

func TestARebindingNameIsRefusedAtDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rcv := newReceiver(t, nil)
		port := rcv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
		var rebound atomic.Bool
		lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
			if host != "hooks.example.com" {
				return nil, errors.New("no such host")
			}
			if rebound.Load() {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		f := newFixture(t, db, Options{Lookup: lookup})
		c := f.endpoint(t, "http://hooks.example.com:"+itoa(int(port))+"/hook")
		rebound.Store(true)
		f.svc.Enqueue(ctx, f.orgID, KeyLeaked, nil)
		reg := prometheus.NewRegistry()
		d := NewDispatcher(f.svc, DispatcherOptions{Registerer: reg})
		d.DispatchDue(ctx)
		got, attempts, _ := f.svc.Delivery(ctx, f.orgID, c.Endpoint.ID, f.deliveries(t)[0].ID)
		if got.Status != Refused || len(attempts) != 1 || attempts[0].Outcome != OutcomeRefused || !strings.Contains(got.LastError, "refused: the host resolved to an address that is a loopback address") || strings.Contains(got.LastError, "127.0.0.1") {
			t.Errorf("delivery %+v attempts %+v", got, attempts)
		}
		if len(rcv.requests()) != 0 {
			t.Error("the refused address was reached")
		}
		if counter(d, OutcomeRefused) != 1 {
			t.Error("refused metric not counted")
		}
		families, _ := reg.Gather()
		if len(families) != 1 || families[0].GetName() != "keyplane_webhook_deliveries_total" || len(families[0].GetMetric()) != 4 {
			t.Errorf("registry holds %v, want keyplane_webhook_deliveries_total with 4 outcomes", families)
		}
		// A literal private address in a URL is refused at delivery too
		// (an endpoint stored before the rules, or edited in the database).
		db.Model(&endpointRow{}).Where("id = ?", c.Endpoint.ID).Update("url", rcv.URL)
		f.svc.SendTest(ctx, f.orgID, c.Endpoint.ID, admin)
		d.DispatchDue(ctx)
		if len(rcv.requests()) != 0 {
			t.Error("a literal loopback URL was reached")
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func counter(d *Dispatcher, outcome string) float64 {
	var m dto.Metric
	d.outcomes.WithLabelValues(outcome).Write(&m)
	return m.GetCounter().GetValue()
}
