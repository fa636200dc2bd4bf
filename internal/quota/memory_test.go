package quota

import (
	"context"
	"testing"
	"time"
)

var (
	testNow   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	testToday = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
)

// amountOf returns what m holds for id in the period starting at start.
func amountOf(m *Memory, id string, start time.Time) *amount {
	sh := &m.shards[m.shard(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.spent[slot{id: id, start: start.Unix()}]
}

// TestMemoryHandover: what a Redis counter spends in memory is pending
// until drained; drained, it stays spent; restored, it is pending again;
// what Redis says raises the amount, never lowers it.
func TestMemoryHandover(t *testing.T) {
	m := NewMemory()
	k := &Subject{ID: "k", Spec: Spec{Kind: Day, Limit: 100}}
	o := &Subject{ID: "o", Spec: Spec{Kind: Day, Limit: 100}}
	both := Charge{Key: k, Org: o, Cost: 3}
	m.Spend(context.Background(), Charge{Key: k, Cost: 5}, testNow) // not pending
	m.spend(both, testNow, true)
	m.spend(both, testNow, true)
	m.spend(Charge{Org: o, Cost: 1}, testNow, true)

	if kp, op := m.drain(both, testNow); kp != 6 || op != 7 {
		t.Fatalf("drain = %d, %d, want 6, 7", kp, op)
	}
	if kp, op := m.drain(both, testNow); kp != 0 || op != 0 {
		t.Errorf("drained twice: %d, %d, want nothing the second time", kp, op)
	}
	if a, b := amountOf(m, "k", testToday).spent, amountOf(m, "o", testToday).spent; a != 11 || b != 7 {
		t.Errorf("after drain the amounts are %d and %d, want still 11 and 7 spent", a, b)
	}
	m.restore(both, testNow, 6, 7)
	m.spend(both, testNow, true)
	if kp, op := m.drain(both, testNow); kp != 9 || op != 10 {
		t.Errorf("after restore and one more spend, drain = %d, %d, want 9, 10", kp, op)
	}
	if a := amountOf(m, "k", testToday).spent; a != 14 {
		t.Errorf("the key's amount is %d, want 14", a)
	}

	// Redis says 40 for the key with 2 still pending here, and 3 for the
	// organization, less than memory counted: 42 and 10.
	m.spend(Charge{Key: k, Cost: 2}, testNow, true)
	m.note(both, testNow, 40, 3)
	if a, b := amountOf(m, "k", testToday).spent, amountOf(m, "o", testToday).spent; a != 42 || b != 10 {
		t.Errorf("after note the amounts are %d and %d, want 42 and 10", a, b)
	}

	// An amount forgotten between drain and restore starts again from the
	// seed, plus what is given back.
	s := &Subject{ID: "s", Spec: Spec{Kind: Day, Limit: 100}, Spent: 20, SpentPeriod: testToday}
	m.restore(Charge{Key: s}, testNow, 4, 0)
	if a := amountOf(m, "s", testToday); a.spent != 24 || a.pending != 4 {
		t.Errorf("restored into nothing: %+v, want 24 spent, 4 pending", a)
	}
}

// TestMemoryForgetsEndedPeriods: a sweep forgets a period once it has
// ended, but keeps an amount Redis has yet to take over as long as Redis
// keeps its counter, a day past the end.
func TestMemoryForgetsEndedPeriods(t *testing.T) {
	m := NewMemory()
	spec := Spec{Kind: Day, Limit: 100}
	never := Spec{Kind: Credits, Limit: 100, Anchor: testToday}
	m.Spend(context.Background(), Charge{Key: &Subject{ID: "plain", Spec: spec}, Cost: 1}, testNow)
	m.spend(Charge{Key: &Subject{ID: "pending", Spec: spec}, Cost: 1}, testNow, true)
	m.Spend(context.Background(), Charge{Key: &Subject{ID: "never", Spec: never}, Cost: 1}, testNow)
	end := testToday.AddDate(0, 0, 1)

	sweep := func(now time.Time) {
		for i := range m.shards {
			m.shards[i].sweep(now.Unix())
		}
	}
	kept := func(id string, start time.Time) bool { return amountOf(m, id, start) != nil }

	sweep(end.Add(-time.Second))
	if !kept("plain", testToday) || !kept("pending", testToday) || !kept("never", testToday) {
		t.Fatal("a sweep before the end forgot a period")
	}
	sweep(end)
	if kept("plain", testToday) {
		t.Error("an ended period is kept")
	}
	if !kept("pending", testToday) {
		t.Error("an ended period with an amount pending for Redis is forgotten")
	}
	sweep(end.Add(keepPending))
	if kept("pending", testToday) {
		t.Error("a pending amount is kept past its Redis counter's life")
	}
	if !kept("never", testToday) {
		t.Error("a balance never refilled is forgotten")
	}
}

// TestMemorySweepsAsItGoes: the sweep runs on its own every sweepEvery
// spends on a shard.
func TestMemorySweepsAsItGoes(t *testing.T) {
	m := NewMemory()
	old := &Subject{ID: "old", Spec: Spec{Kind: Day, Limit: 100}}
	m.Spend(context.Background(), Charge{Key: old}, testNow)
	later := testNow.AddDate(0, 0, 1)
	for range sweepEvery {
		m.Spend(context.Background(), Charge{Key: old}, later)
	}
	if amountOf(m, "old", testToday) != nil {
		t.Error("an ended period is still kept after sweepEvery spends on its shard")
	}
}
