package quota_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"keyplane/internal/quota"
)

// result is one concurrent Spend: its cost and decision.
type result struct {
	cost int64
	d    quota.Decision
}

// spendAll runs one goroutine per charge, each Spend at t0 on the counter
// the charge's index picks, all released at once.
func spendAll(counters []quota.Counter, charges []quota.Charge) []result {
	out := make([]result, len(charges))
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i, ch := range charges {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			out[i] = result{ch.Cost, counters[i%len(counters)].Spend(context.Background(), ch, t0)}
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return out
}

// TestSpendConcurrentAtTheEdge: 300 requests of cost 1 at once against a
// quota of 100 (a key's, or an organization's shared by two keys): exactly
// 100 pass, and none is left.
func TestSpendConcurrentAtTheEdge(t *testing.T) {
	for _, impl := range counterImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, shared := range []bool{false, true} {
				t.Run(fmt.Sprintf("shared by two keys %v", shared), func(t *testing.T) {
					c := impl.replicas(t, 1)[0]
					k := &quota.Subject{ID: "k", Spec: day(100)}
					shares := []*quota.Subject{{ID: "k1", Spec: day(1000)}, {ID: "k2", Spec: day(1000)}}
					o := &quota.Subject{ID: "o", Spec: day(100)}
					charges := make([]quota.Charge, 300)
					for i := range charges {
						charges[i] = quota.Charge{OrgID: "o", Key: k, Cost: 1}
						if shared {
							charges[i].Key, charges[i].Org = shares[i%2], o
						}
					}
					allowed := 0
					for _, r := range spendAll([]quota.Counter{c}, charges) {
						if r.d.Allowed {
							allowed++
						}
					}
					if allowed != 100 {
						t.Errorf("%d of 300 allowed, want exactly 100", allowed)
					}
					check := quota.Charge{OrgID: "o", Key: k}
					if shared {
						check = quota.Charge{OrgID: "o", Key: shares[1], Org: o}
					}
					d := c.Spend(context.Background(), check, t0)
					left := d.Key.Remaining
					if shared {
						left = d.Org.Remaining
					}
					if d.Allowed || left != 0 {
						t.Errorf("afterwards a check says %+v, want refused with nothing left", d)
					}
				})
			}
		})
	}
}

// TestSpendConcurrentMixedCosts: requests of several costs at once never
// spend more than the quota, and none was refused that could have passed:
// each refused one costs more than what is left at the end.
func TestSpendConcurrentMixedCosts(t *testing.T) {
	costs := map[string][]int64{"all 7": {7}, "1 to 13": {1, 2, 3, 5, 7, 11, 13}}
	for _, impl := range counterImpls {
		t.Run(impl.name, func(t *testing.T) {
			for name, cs := range costs {
				t.Run(name, func(t *testing.T) {
					checkMixedCosts(t, impl.replicas(t, 1), cs)
				})
			}
		})
	}
}

// TestRedisReplicasShareCounts: two replicas, each with its own client,
// breaker and Memory, spending at once against one quota on the same Redis
// prefix, count exactly as one.
func TestRedisReplicasShareCounts(t *testing.T) {
	checkMixedCosts(t, counterImpls[1].replicas(t, 2), []int64{1, 2, 3, 5, 7, 11, 13})
}

func checkMixedCosts(t *testing.T, counters []quota.Counter, costs []int64) {
	t.Helper()
	const limit = 1000
	// Thirty keys share the organization's quota: their shards differ,
	// and so does the order a Memory locks them in.
	keys := make([]*quota.Subject, 30)
	for i := range keys {
		keys[i] = &quota.Subject{ID: fmt.Sprintf("k%d", i), Spec: day(quota.MaxLimit)}
	}
	o := &quota.Subject{ID: "o", Spec: day(limit)}
	charges := make([]quota.Charge, 300)
	for i := range charges {
		charges[i] = quota.Charge{OrgID: "o", Key: keys[i%len(keys)], Org: o, Cost: costs[i%len(costs)]}
	}
	var sum int64
	results := spendAll(counters, charges)
	for _, r := range results {
		if r.d.Allowed {
			sum += r.cost
			if r.d.Spent != r.cost {
				t.Errorf("allowed %+v spent %d, want its cost %d", r.d, r.d.Spent, r.cost)
			}
		} else if r.d.Spent != 0 || r.d.RefusedBy != "o" {
			t.Errorf("refused %+v, want refused by o, spending nothing", r.d)
		}
	}
	var keysSpent int64
	var end quota.Decision
	for _, k := range keys {
		end = counters[0].Spend(context.Background(), quota.Charge{OrgID: "o", Key: k, Org: o}, t0)
		keysSpent += end.Key.Limit - end.Key.Remaining
	}
	if sum > limit || sum+end.Org.Remaining != limit {
		t.Errorf("allowed costs add up to %d with %d left, want at most %d and both adding up to it", sum, end.Org.Remaining, limit)
	}
	if keysSpent != sum {
		t.Errorf("the keys spent %d, want the %d their organization allowed", keysSpent, sum)
	}
	for _, r := range results {
		if !r.d.Allowed && r.cost <= end.Org.Remaining {
			t.Errorf("a request of cost %d was refused, yet %d is left at the end", r.cost, end.Org.Remaining)
		}
	}
}
