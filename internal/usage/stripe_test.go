package usage

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestRecordConcurrently: requests recorded from many goroutines at once,
// for one key and for several, are all counted exactly once, and the last
// use is the latest, whatever stripes they went through.
func TestRecordConcurrently(t *testing.T) {
	r := NewRecorder(nil, nil, nil)
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := "hot"
				if i%2 == 1 {
					key = "cold"
				}
				at := base.Add(time.Duration(w*each+i) * time.Microsecond)
				r.Record(key, "org", at, "allowed", "", netip.AddrFrom4([4]byte{10, 0, 0, byte(w)}), "")
			}
		}()
	}
	wg.Wait()
	if p := r.Pending(); p != 2 {
		t.Errorf("Pending = %d, want 2 counters", p)
	}
	b := r.take()
	if b.requests() != workers*each {
		t.Errorf("%d requests counted, want %d", b.requests(), workers*each)
	}
	latest := base.Add(time.Duration(workers*each-1) * time.Microsecond)
	if u := b.last["cold"]; !u.at.Equal(latest) || u.ip != netip.AddrFrom4([4]byte{10, 0, 0, workers - 1}) {
		t.Errorf("last use of cold: %v from %v, want %v", u.at, u.ip, latest)
	}
	if r.Pending() != 0 || !r.take().empty() {
		t.Error("take left counts behind")
	}
}

// TestStripeHotCounter: a stripe keeps its latest counter and last use out
// of its maps; whatever the order of keys, outcomes and scopes, and
// whether a take comes between runs, every request is counted once under
// its own counter, and an older last use never replaces a newer one.
func TestStripeHotCounter(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ip := func(b byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, b}) }
	type req struct {
		key, outcome, scope string
		sec                 int // seconds after base
		ip                  byte
	}
	seq := []req{
		{"a", "allowed", "", 1, 1}, {"a", "allowed", "", 2, 1}, {"a", "allowed", "read", 3, 2},
		{"b", "allowed", "", 4, 3}, {"a", "revoked", "", 5, 4}, {"a", "allowed", "", 6, 5},
		{"a", "allowed", "", 0, 9}, // arrives late with an older time
		{"b", "allowed", "", 3600, 6}, {"b", "allowed", "", 3601, 7},
	}
	want := map[countKey]int64{}
	hour := func(sec int) int64 {
		at := base.Add(time.Duration(sec) * time.Second)
		return at.Unix() - at.Unix()%3600
	}
	for _, q := range seq {
		want[countKey{keyID: q.key, orgID: "o", hour: hour(q.sec), outcome: q.outcome, scope: q.scope}]++
	}
	// All through one stripe, then again with a take after every request,
	// so settling mid-run is exercised too.
	for _, takeEach := range []bool{false, true} {
		fresh := newBatch()
		s := stripeData{counts: fresh.counts, last: fresh.last, sources: fresh.sources, perKey: map[string]int{}}
		got := newBatch()
		drain := func() {
			s.settle()
			merged := stripeData{counts: got.counts, last: got.last, sources: got.sources, perKey: map[string]int{}}
			merged.add(batch{counts: s.counts, last: s.last, sources: s.sources})
			fresh := newBatch()
			s.counts, s.last, s.sources, s.perKey = fresh.counts, fresh.last, fresh.sources, map[string]int{}
		}
		for _, q := range seq {
			k := countKey{keyID: q.key, orgID: "o", hour: hour(q.sec), outcome: q.outcome, scope: q.scope}
			s.count(k, base.Add(time.Duration(q.sec)*time.Second), ip(q.ip), "")
			if takeEach {
				drain()
			}
		}
		drain()
		if len(got.counts) != len(want) {
			t.Errorf("takeEach=%v: %d counters, want %d: %v", takeEach, len(got.counts), len(want), got.counts)
		}
		for k, n := range want {
			if got.counts[k] != n {
				t.Errorf("takeEach=%v: %+v counted %d, want %d", takeEach, k, got.counts[k], n)
			}
		}
		if u := got.last["a"]; !u.at.Equal(base.Add(6*time.Second)) || u.ip != ip(5) {
			t.Errorf("takeEach=%v: last use of a: %v from %v, want +6s from 10.0.0.5", takeEach, u.at, u.ip)
		}
		if u := got.last["b"]; !u.at.Equal(base.Add(3601*time.Second)) || u.ip != ip(7) {
			t.Errorf("takeEach=%v: last use of b: %v from %v, want +3601s from 10.0.0.7", takeEach, u.at, u.ip)
		}
		// Sources: a's address 10.0.0.1 twice, the others once each.
		day := base.Unix() - base.Unix()%86400
		var total int64
		for _, u := range got.sources {
			total += u.n
		}
		if total != int64(len(seq)) {
			t.Errorf("takeEach=%v: sources count %d requests, want %d", takeEach, total, len(seq))
		}
		if u := got.sources[sourceKey{keyID: "a", orgID: "o", day: day, ip: ip(1)}]; u.n != 2 || !u.last.Equal(base.Add(2*time.Second)) {
			t.Errorf("takeEach=%v: a from 10.0.0.1: %d requests, last %v; want 2, +2s", takeEach, u.n, u.last)
		}
	}
}
