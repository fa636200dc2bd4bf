package quota_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"keyplane/internal/quota"
)

// benchCharges are charges of 1024 keys in 16 organizations, each with a
// quota that never runs out; withOrg adds the organization's.
func benchCharges(withOrg bool) []quota.Charge {
	orgs := make([]*quota.Subject, 16)
	for i := range orgs {
		orgs[i] = &quota.Subject{ID: "org-" + strconv.Itoa(i), Spec: month(quota.MaxLimit)}
	}
	charges := make([]quota.Charge, 1024)
	for i := range charges {
		o := orgs[i%len(orgs)]
		charges[i] = quota.Charge{OrgID: o.ID, Key: &quota.Subject{ID: "key-" + strconv.Itoa(i), Spec: day(quota.MaxLimit)}, Cost: 1}
		if withOrg {
			charges[i].Org = o
		}
	}
	return charges
}

func benchSpend(b *testing.B, c quota.Counter) {
	for _, tt := range []struct {
		name    string
		withOrg bool
	}{{"key", false}, {"key+org", true}} {
		b.Run(tt.name, func(b *testing.B) {
			charges := benchCharges(tt.withOrg)
			for _, ch := range charges {
				c.Spend(context.Background(), ch, t0)
			}
			var next atomic.Uint32
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(97))
				for pb.Next() {
					i++
					if d := c.Spend(context.Background(), charges[i%len(charges)], t0); !d.Allowed {
						b.Fatalf("refused: %+v", d)
					}
				}
			})
		})
	}
}

func BenchmarkMemorySpend(b *testing.B) {
	benchSpend(b, quota.NewMemory())
}

func BenchmarkRedisSpend(b *testing.B) {
	client, prefix := testRedis(b)
	r := quota.NewRedis(client, patientBreaker(), prefix, nil)
	benchSpend(b, r)
	if n := r.Fallbacks.Load(); n != 0 {
		b.Errorf("%d spends fell back to memory", n)
	}
}
