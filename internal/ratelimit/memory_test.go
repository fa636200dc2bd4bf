package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (m *Memory) keys() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].logs)
		m.shards[i].mu.Unlock()
	}
	return n
}

// TestMemoryStaysWithinItsBound: a flood of live keys (made-up emails, say)
// cannot grow a bounded store past its bound, and it keeps working.
func TestMemoryStaysWithinItsBound(t *testing.T) {
	const bound = 640
	m := NewMemory(bound)
	ctx := context.Background()
	for i := range 20 * bound {
		m.Add(ctx, "acct:"+strconv.Itoa(i)+"@example.com", 15*time.Minute, epoch)
	}
	if n := m.keys(); n > bound {
		t.Fatalf("%d keys held, want at most %d", n, bound)
	}
	l := Limit{Max: 1, Window: time.Minute}
	if d := m.Take(ctx, "fresh", l, epoch); !d.Allowed {
		t.Fatalf("full store refused a new key: %+v", d)
	}
	if d := m.Take(ctx, "fresh", l, epoch); d.Allowed {
		t.Fatal("full store forgot the key it just counted")
	}
}

// TestMemoryForgetsIdleKeys: keys with nothing in their window and no
// block go, blocked ones stay until the block ends.
func TestMemoryForgetsIdleKeys(t *testing.T) {
	m := NewMemory(0)
	ctx := context.Background()
	m.Take(ctx, "blocked", Limit{Max: 1, Window: time.Minute, Block: time.Hour}, epoch)
	m.Take(ctx, "blocked", Limit{Max: 1, Window: time.Minute, Block: time.Hour}, epoch)
	for i := range 1000 {
		m.Take(ctx, strconv.Itoa(i), Limit{Max: 5, Window: time.Minute}, epoch)
	}
	later := epoch.Add(2 * time.Minute)
	// Calls on other keys: each shard sees sweepEvery of them, and more.
	for i := range 2 * shardCount * sweepEvery {
		m.Peek(ctx, "other:"+strconv.Itoa(i), Limit{Max: 5, Window: time.Minute}, later)
	}
	if n := m.keys(); n != 1 {
		t.Fatalf("%d keys held after their window, want only the blocked one", n)
	}
	if d := m.Take(ctx, "blocked", Limit{Max: 1, Window: time.Minute, Block: time.Hour}, later); d.Allowed {
		t.Fatal("a sweep dropped a running block")
	}
}

// TestMemoryTakeDoesNotAllocate guards the data plane's hot path: a take on
// a known key allocates nothing, however long its log has been sliding.
func TestMemoryTakeDoesNotAllocate(t *testing.T) {
	m := NewMemory(0)
	ctx := context.Background()
	l := Limit{Max: 100, Window: time.Minute, Block: time.Minute}
	i := 0
	take := func() {
		m.Take(ctx, "01890000-0000-7000-8000-000000000001|192.0.2.1", l, epoch.Add(time.Duration(i)*time.Second))
		i++
	}
	for range 1000 {
		take()
	}
	if n := testing.AllocsPerRun(10_000, take); n != 0 {
		t.Fatalf("%v allocations per take", n)
	}
}

// benchKeys is a thousand keys as the data plane names its buckets.
func benchKeys() []string {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "01890000-0000-7000-8000-" + strconv.Itoa(100000000000+i) + "|192.0.2.1"
	}
	return keys
}

var benchLimit = Limit{Max: 100, Window: time.Minute, Block: time.Minute}

func BenchmarkMemoryTake(b *testing.B) {
	m, keys, ctx := NewMemory(0), benchKeys(), context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Take(ctx, keys[i%len(keys)], benchLimit, epoch.Add(time.Duration(i)*time.Millisecond))
	}
}

func BenchmarkMemoryTakeParallel(b *testing.B) {
	m, keys, ctx := NewMemory(0), benchKeys(), context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Take(ctx, keys[i%len(keys)], benchLimit, epoch.Add(time.Duration(i)*time.Millisecond))
		}
	})
}
