package oidc_test

import (
	"context"
	"testing"
	"time"

	"keyplane/internal/apperr"
	"keyplane/internal/oidc"
	"keyplane/internal/store"
)

const (
	faultDiscovery = 500 * time.Millisecond
	faultExchange  = time.Second
	// slack is what a refusal may take past its deadline.
	slack = time.Second
)

func faultClient(t *testing.T, p *testProvider) *oidc.Client {
	return faultClientOn(t, p, sqlite(t))
}

func faultClientOn(t *testing.T, p *testProvider, db *store.DB) *oidc.Client {
	return newClient(t, p, db, func(o *oidc.Options) {
		o.DiscoveryTimeout, o.ExchangeTimeout = faultDiscovery, faultExchange
	})
}

// TestFaultProviderDownAtStart: a provider that never answers does not stop
// a Client from being made, and Begin gives up within its deadline with
// Unavailable; once the provider is back, the next Begin discovers it.
func TestFaultProviderDownAtStart(t *testing.T) {
	p := startProvider(t, true)
	p.proxy.Blackhole()
	db := sqlite(t)
	made := time.Now()
	c := faultClientOn(t, p, db)
	if d := time.Since(made); d >= faultDiscovery/2 {
		t.Errorf("New took %s: it must not wait for the provider", d)
	}
	for i := 0; i < 2; i++ {
		t0 := time.Now()
		_, err := c.Begin(context.Background(), "/")
		took := time.Since(t0)
		wantRefused(t, err, apperr.Unavailable, oidc.ReasonUnavailable)
		if took > faultDiscovery+slack {
			t.Errorf("Begin %d against a blackholed provider took %s, deadline %s", i, took, faultDiscovery)
		}
		t.Logf("figure: Begin against a blackholed provider refused in %s", took.Round(time.Millisecond))
	}
	if err := p.proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// Back: a Begin discovers it. On a loaded machine one attempt may still
	// miss the short deadline of this test; a few tries must not.
	var err error
	for try := 0; try < 5; try++ {
		if _, err = c.Begin(context.Background(), "/"); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Begin after the provider came back: %v", err)
	}
	if _, err := signIn(t, c, p, nil); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

// TestFaultProviderRefusesConnections: a provider whose port resets
// connections is Unavailable at once.
func TestFaultProviderRefusesConnections(t *testing.T) {
	p := startProvider(t, true)
	p.proxy.Cut()
	c := faultClient(t, p)
	t0 := time.Now()
	_, err := c.Begin(context.Background(), "/")
	wantRefused(t, err, apperr.Unavailable, oidc.ReasonUnavailable)
	if took := time.Since(t0); took > faultDiscovery+slack {
		t.Errorf("Begin took %s", took)
	}
}

// TestFaultProviderFreezesDuringFinish: the connection the Client keeps
// to the provider goes silent between Begin and Finish (a partition that
// healed): the token exchange gives up at its deadline.
func TestFaultProviderFreezesDuringFinish(t *testing.T) {
	p := startProvider(t, true)
	c := faultClient(t, p)
	ctx := context.Background()
	start, err := c.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	q := p.authorize(t, start.URL)
	p.proxy.Freeze()
	t0 := time.Now()
	_, err = c.Finish(ctx, start.Cookie.Value, q)
	took := time.Since(t0)
	wantRefused(t, err, apperr.Unavailable, oidc.ReasonUnavailable, q.Get("code"))
	if took > faultExchange+slack {
		t.Errorf("Finish on a frozen connection took %s, deadline %s", took, faultExchange)
	}
	t.Logf("figure: Finish on a frozen connection refused in %s", took.Round(time.Millisecond))
}

// TestFaultProviderBlackholedDuringFinish: the provider stops answering
// between Begin and Finish; Finish gives up at its deadline, and the
// caller's own deadline, when shorter, wins.
func TestFaultProviderBlackholedDuringFinish(t *testing.T) {
	p := startProvider(t, true)
	c := faultClient(t, p)
	for _, callerDeadline := range []time.Duration{0, 300 * time.Millisecond} {
		start, err := c.Begin(context.Background(), "/")
		if err != nil {
			t.Fatal(err)
		}
		q := p.authorize(t, start.URL)
		p.proxy.Blackhole()
		ctx, want := context.Background(), faultExchange
		if callerDeadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, callerDeadline)
			defer cancel()
			want = callerDeadline
		}
		t0 := time.Now()
		_, err = c.Finish(ctx, start.Cookie.Value, q)
		took := time.Since(t0)
		wantRefused(t, err, apperr.Unavailable, oidc.ReasonUnavailable, q.Get("code"))
		if took > want+slack/2 {
			t.Errorf("Finish against a blackholed provider took %s, deadline %s", took, want)
		}
		t.Logf("figure: Finish against a blackholed provider (deadline %s) refused in %s", want, took.Round(time.Millisecond))
		if err := p.proxy.Restore(); err != nil {
			t.Fatal(err)
		}
	}
}
