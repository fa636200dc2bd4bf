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
