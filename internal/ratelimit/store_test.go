package ratelimit_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"keyplane/internal/ratelimit"
	"keyplane/internal/ratelimit/ratelimittest"
	"keyplane/internal/redisbreaker"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// patientBreaker bounds calls generously: scenarios that test the logic
// must not fall back because a loaded machine was slow.
func patientBreaker() *redisbreaker.Breaker {
	return redisbreaker.New(redisbreaker.Options{CallTimeout: time.Second, Logger: quietLogger})
}

// storeImpls builds each Store afresh for one test.
var storeImpls = []struct {
	name string
	make func(t *testing.T) ratelimit.Store
}{
	{"memory", func(*testing.T) ratelimit.Store { return ratelimit.NewMemory(0) }},
	{"redis", func(t *testing.T) ratelimit.Store {
		client, prefix := ratelimittest.Redis(t)
		s := ratelimit.NewRedis(client, patientBreaker(), prefix, nil)
		t.Cleanup(func() {
			if n := s.Fallbacks.Load(); n != 0 {
				t.Errorf("redis store fell back to memory %d times: the suite did not run against Redis", n)
			}
		})
		return s
	}},
}

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// take is one Take of a scenario: at an offset from the start, against a
// key, and the decision expected.
type take struct {
	at        time.Duration
	key       string // "" means "a"
	allowed   bool
	remaining int
	reset     time.Duration
}

var takeScenarios = []struct {
	name  string
	limit ratelimit.Limit
	takes []take
}{
	{
		name:  "window slides: five at t=0..4, refused at 59s, allowed at 60.001s",
		limit: ratelimit.Limit{Max: 5, Window: time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 4, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 3, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: true, remaining: 2, reset: 58 * time.Second},
			{at: 3 * time.Second, allowed: true, remaining: 1, reset: 57 * time.Second},
			{at: 4 * time.Second, allowed: true, remaining: 0, reset: 56 * time.Second},
			{at: 59 * time.Second, allowed: false, remaining: 0, reset: 1 * time.Second},
			{at: 59*time.Second + 999*time.Millisecond, allowed: false, remaining: 0, reset: time.Millisecond},
			{at: 60*time.Second + time.Millisecond, allowed: true, remaining: 0, reset: 999 * time.Millisecond},
			{at: 60*time.Second + 500*time.Millisecond, allowed: false, remaining: 0, reset: 500 * time.Millisecond},
			{at: 61*time.Second + 1*time.Millisecond, allowed: true, remaining: 0, reset: 999 * time.Millisecond},
		},
	},
	{
		name:  "no block: a refusal does not count",
		limit: ratelimit.Limit{Max: 2, Window: time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 1, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 0, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: false, reset: 58 * time.Second},
			{at: 30 * time.Second, allowed: false, reset: 30 * time.Second},
			{at: 59 * time.Second, allowed: false, reset: 1 * time.Second},
			{at: 60 * time.Second, allowed: true, remaining: 0, reset: 1 * time.Second},
			{at: 61 * time.Second, allowed: true, remaining: 0, reset: 59 * time.Second},
			{at: 62 * time.Second, allowed: false, reset: 58 * time.Second},
		},
	},
	{
		name:  "block: the exceeding request blocks for 5m, refusals do not extend it",
		limit: ratelimit.Limit{Max: 3, Window: time.Minute, Block: 5 * time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 2, reset: 60 * time.Second},
			{at: 1 * time.Second, allowed: true, remaining: 1, reset: 59 * time.Second},
			{at: 2 * time.Second, allowed: true, remaining: 0, reset: 58 * time.Second},
			{at: 3 * time.Second, allowed: false, reset: 5 * time.Minute},
			{at: 63 * time.Second, allowed: false, reset: 4 * time.Minute},
			{at: 123 * time.Second, allowed: false, reset: 3 * time.Minute},
			{at: 303*time.Second - time.Millisecond, allowed: false, reset: time.Millisecond},
			// The block is over and the window starts empty.
			{at: 303 * time.Second, allowed: true, remaining: 2, reset: 60 * time.Second},
			{at: 304 * time.Second, allowed: true, remaining: 1, reset: 59 * time.Second},
		},
	},
	{
		name:  "keys are independent",
		limit: ratelimit.Limit{Max: 1, Window: time.Minute, Block: time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: time.Second, allowed: false, reset: time.Minute},
			{at: 2 * time.Second, key: "b", allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: 3 * time.Second, key: "key|192.0.2.1", allowed: true, remaining: 0, reset: 60 * time.Second},
			{at: 4 * time.Second, allowed: false, reset: 57 * time.Second},
			{at: 5 * time.Second, key: "b", allowed: false, reset: time.Minute},
		},
	},
	{
		name:  "a window of 15 minutes",
		limit: ratelimit.Limit{Max: 2, Window: 15 * time.Minute},
		takes: []take{
			{at: 0, allowed: true, remaining: 1, reset: 15 * time.Minute},
			{at: 10 * time.Minute, allowed: true, remaining: 0, reset: 5 * time.Minute},
			{at: 14 * time.Minute, allowed: false, reset: time.Minute},
			{at: 15 * time.Minute, allowed: true, remaining: 0, reset: 10 * time.Minute},
		},
	},
}

func TestTake(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, sc := range takeScenarios {
				t.Run(sc.name, func(t *testing.T) {
					s := impl.make(t)
					for i, tk := range sc.takes {
						key := tk.key
						if key == "" {
							key = "a"
						}
						d := s.Take(context.Background(), key, sc.limit, start.Add(tk.at))
						want := ratelimit.Decision{Allowed: tk.allowed, Remaining: tk.remaining, Reset: tk.reset}
						if d != want {
							t.Errorf("take %d (t=%v, key %s): got %+v, want %+v", i, tk.at, key, d, want)
						}
					}
				})
			}
		})
	}
}

// TestTakeConcurrent checks that parallel takes never let more than Max
// through in one window.
func TestTakeConcurrent(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.make(t)
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						d := s.Take(context.Background(), "shared", ratelimit.Limit{Max: 50, Window: time.Minute}, start.Add(time.Duration(g*25+i)*time.Millisecond))
						if d.Allowed {
							mu.Lock()
							allowed++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if allowed != 50 {
				t.Fatalf("%d of 200 parallel takes allowed, want exactly 50", allowed)
			}
		})
	}
}

// step is one call of a log scenario at an offset from the start: op is
// "add", "peek", "take", "remove" (the event added at event) or "clear";
// peek and take expect want.
type step struct {
	at    time.Duration
	op    string
	key   string // "" means "a"
	event time.Duration
	want  ratelimit.Decision
}

var logLimit = ratelimit.Limit{Max: 3, Window: 15 * time.Minute}

var logScenarios = []struct {
	name  string
	steps []step
}{
	{"peek records nothing", []step{
		{at: 0, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 3}},
		{at: 0, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 3}},
		{at: time.Minute, op: "add"},
		{at: 2 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 2, Reset: 14 * time.Minute}},
		{at: 2 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 2, Reset: 14 * time.Minute}},
	}},
	{"add counts past the limit, and the wait lasts until enough have left", []step{
		{at: 0, op: "add"},
		{at: time.Minute, op: "add"},
		{at: 2 * time.Minute, op: "add"},
		{at: 2 * time.Minute, op: "peek", want: ratelimit.Decision{Reset: 13 * time.Minute}},
		{at: 3 * time.Minute, op: "add"},
		{at: 4 * time.Minute, op: "add"},
		// Five counted: three remain once the one at 2 minutes has left.
		{at: 4 * time.Minute, op: "peek", want: ratelimit.Decision{Reset: 13 * time.Minute}},
		{at: 17 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 1, Reset: time.Minute}},
		{at: 19 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 3}},
	}},
	{"peek and take read one log", []step{
		{at: 0, op: "take", want: ratelimit.Decision{Allowed: true, Remaining: 2, Reset: 15 * time.Minute}},
		{at: time.Minute, op: "add"},
		{at: 2 * time.Minute, op: "take", want: ratelimit.Decision{Allowed: true, Remaining: 0, Reset: 13 * time.Minute}},
		{at: 3 * time.Minute, op: "peek", want: ratelimit.Decision{Reset: 12 * time.Minute}},
		{at: 3 * time.Minute, op: "take", want: ratelimit.Decision{Reset: 12 * time.Minute}},
	}},
	{"remove takes back one event, the others stay", []step{
		{at: 0, op: "add"},
		{at: time.Minute, op: "add"},
		{at: 2 * time.Minute, op: "add"},
		{at: 3 * time.Minute, op: "remove", event: time.Minute},
		{at: 3 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 1, Reset: 12 * time.Minute}},
		{at: 3 * time.Minute, op: "remove", event: time.Minute}, // gone already: nothing else goes
		{at: 3 * time.Minute, op: "remove", event: 30 * time.Second},
		{at: 3 * time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 1, Reset: 12 * time.Minute}},
	}},
	{"clear forgets one key only", []step{
		{at: 0, op: "add"},
		{at: 0, op: "add"},
		{at: 0, op: "add"},
		{at: 0, op: "add", key: "b"},
		{at: time.Minute, op: "peek", want: ratelimit.Decision{Reset: 14 * time.Minute}},
		{at: time.Minute, op: "clear"},
		{at: time.Minute, op: "peek", want: ratelimit.Decision{Allowed: true, Remaining: 3}},
		{at: time.Minute, op: "peek", key: "b", want: ratelimit.Decision{Allowed: true, Remaining: 2, Reset: 14 * time.Minute}},
	}},
}

// TestLog runs the calls login throttling makes (add, peek, remove,
// clear), beside take, against each Store.
func TestLog(t *testing.T) {
	ctx := context.Background()
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, sc := range logScenarios {
				t.Run(sc.name, func(t *testing.T) {
					s := impl.make(t)
					for i, st := range sc.steps {
						key := st.key
						if key == "" {
							key = "a"
						}
						now := start.Add(st.at)
						var got ratelimit.Decision
						switch st.op {
						case "add":
							s.Add(ctx, key, logLimit.Window, now)
							continue
						case "remove":
							s.Remove(ctx, key, start.Add(st.event))
							continue
						case "clear":
							s.Clear(ctx, key)
							continue
						case "peek":
							got = s.Peek(ctx, key, logLimit, now)
						case "take":
							got = s.Take(ctx, key, logLimit, now)
						default:
							t.Fatalf("step %d: unknown op %q", i, st.op)
						}
						if got != st.want {
							t.Errorf("step %d (%s %s at %v): got %+v, want %+v", i, st.op, key, st.at, got, st.want)
						}
					}
				})
			}
		})
	}
}

// TestPeekWithBlock: a block answers Peek as it answers Take, and Peek
// never starts one.
func TestPeekWithBlock(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.Limit{Max: 1, Window: time.Minute, Block: 5 * time.Minute}
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.make(t)
			s.Take(ctx, "a", l, start)
			if d := s.Peek(ctx, "a", l, start.Add(time.Second)); d != (ratelimit.Decision{Reset: 5 * time.Minute}) {
				t.Errorf("peek at the limit: %+v, want refused with the block's length", d)
			}
			if d := s.Take(ctx, "a", l, start.Add(2*time.Second)); d.Allowed {
				t.Fatalf("take at the limit allowed: Peek started a block or dropped the event")
			}
			if d := s.Peek(ctx, "a", l, start.Add(time.Minute)); d != (ratelimit.Decision{Reset: 4*time.Minute + 2*time.Second}) {
				t.Errorf("peek during the block: %+v, want what is left of it", d)
			}
		})
	}
}
