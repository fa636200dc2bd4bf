package main

import (
	"context"
	"math"
)

// openPart measures latency at a fixed arrival rate: half keyplane's
// median peak from the closed loop. keyplane, bare and minimal are
// restarted on the last CPU and the load client runs on the others (where
// taskset and a second CPU allow), so a latency is the server's and not
// the time it waited for the client to get off its core. Each server gets
// openRounds runs in turns, and their p99s' median is compared.
func (b *bench) openPart(ctx context.Context, kpEnv []string, kpAddr, key string) error {
	o := b.o
	onServer, onClient, why := splitCPUs()
	b.openPin = "servers on " + onServer.String() + ", load client on " + onClient.String()
	if why != "" {
		b.openPin = why
	}
	kp, base, minimal, err := b.startServers(ctx, onServer, kpEnv, kpAddr, key, "-open")
	if err != nil {
		return err
	}
	defer kp.stop()
	defer base.stop()
	defer minimal.stop()
	baseAddr, minAddr := base.addr, minimal.addr

	load := b.load
	load.on = onClient
	targets := []struct {
		name string
		url  string
		p99  *[]float64
		ok   *bool
	}{
		{"keyplane", "http://" + kpAddr + authPath, &b.kpOpenP99, &b.kpOpenOK},
		{"bare", "http://" + baseAddr + authPath, &b.baseOpenP99, &b.baseOpenOK},
		{"minimal", "http://" + minAddr + authPath, &b.minOpenP99, &b.minOpenOK},
	}

	b.openRate = math.Round(median(b.kpRPS) / 2)
	b.printf("\n== open loop at %.0f requests/s (half keyplane's median), %d rounds of %s each, %d connections, in turns ==\n",
		b.openRate, openRounds, o.open, o.openConns)
	b.printf("%s\n", b.openPin)
	for _, t := range targets {
		*t.ok = true
		// Warm each server's cache and connections, at the rate to come.
		if _, err := load.open(ctx, t.url, o.warmup, b.openRate, o.openConns); err != nil {
			return err
		}
	}
	for r := range openRounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			res, err := load.open(ctx, t.url, o.open, b.openRate, o.openConns)
			if err != nil {
				return err
			}
			*t.p99 = append(*t.p99, res.Latency.P99)
			*t.ok = *t.ok && res.ok()
			b.openLagP99 = append(b.openLagP99, sendLagP99(res))
			b.printf("round %d  %-8s  %6d requests, %.0f rps  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (client send lag p99 %.3f ms)%s\n",
				r+1, t.name, res.Requests, res.RPS, res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.P999, res.Latency.Max, sendLagP99(res), warn(res))
		}
	}
	b.printf("median p99: keyplane %.3f ms, bare %.3f ms, minimal %.3f ms\n", median(b.kpOpenP99), median(b.baseOpenP99), median(b.minOpenP99))
	return nil
}
