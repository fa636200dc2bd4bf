package usage

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.com":                 "https://app.example.com",
		"https://app.example.com:8443/path?q=1#x": "https://app.example.com:8443",
		"http://localhost:3000/":                  "http://localhost:3000",
		"":                                        "",
		"null":                                    "",
		"ftp://example.com":                       "",
		"not a url":                               "",
		"https://user:pw@example.com/":            "",
		"https://exa\x00mple.com":                 "",
		"//example.com/no-scheme":                 "",
	} {
		if got := OriginOf(in); got != want {
			t.Errorf("OriginOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSourcesAreCountedWithUsage: addresses and origins reach the database
// at flush, add up across flushes, keep their latest time, never keep a
// path, and are read back per key and organization, most used first.
func TestSourcesAreCountedWithUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		now := time.Now().UTC().Truncate(time.Second)
		a, b := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::1")
		for i := range 3 {
			r.Record(f.keys[0], f.orgID, now.Add(time.Duration(i)*time.Second), "allowed", "", a, "https://shop.example.com/cart?id=1")
		}
		r.Record(f.keys[0], f.orgID, now, "domain_not_allowed", "", b, "https://evil.example.net")
		r.Record(f.keys[1], f.orgID, now, "allowed", "", b, "")
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		r.Record(f.keys[0], f.orgID, now.Add(time.Minute), "allowed", "", a, "https://shop.example.com")
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		reader := NewReader(db)
		got, err := reader.Sources(ctx, f.orgID, f.keys[0], now.Add(-30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		wantUse := func(what string, list []SourceUse, i int, value string, n int64, last time.Time) {
			t.Helper()
			if i >= len(list) {
				t.Fatalf("%s: %d entries, want entry %d (%s)", what, len(list), i, value)
			}
			u := list[i]
			if u.Value != value || u.Requests != n || !u.LastSeen.Equal(last) {
				t.Errorf("%s[%d] = %s %d requests last %v, want %s %d last %v", what, i, u.Value, u.Requests, u.LastSeen, value, n, last)
			}
		}
		if len(got.IPs) != 2 || len(got.Origins) != 2 {
			t.Fatalf("sources of key 0: %+v", got)
		}
		wantUse("IPs", got.IPs, 0, "198.51.100.7", 4, now.Add(time.Minute))
		wantUse("IPs", got.IPs, 1, "2001:db8::1", 1, now)
		wantUse("origins", got.Origins, 0, "https://shop.example.com", 4, now.Add(time.Minute))
		wantUse("origins", got.Origins, 1, "https://evil.example.net", 1, now)
		if got.OtherRequests != 0 {
			t.Errorf("other requests %d, want 0", got.OtherRequests)
		}

		// Another organization sees nothing of the key.
		if other, err := reader.Sources(ctx, f.keys[2], f.keys[0], now.Add(-time.Hour)); err != nil || len(other.IPs) != 0 {
			t.Errorf("sources seen through another org id: %+v, %v", other, err)
		}
		// Key 1 had no origin: only its address.
		one, err := reader.Sources(ctx, f.orgID, f.keys[1], now.Add(-time.Hour))
		if err != nil || len(one.IPs) != 1 || len(one.Origins) != 0 {
			t.Errorf("sources of key 1: %+v, %v", one, err)
		}
	})
}

// TestSourcesAreBounded: past the bound per flush and per day, new
// addresses are counted as other sources, so no request is lost and the
// rows of a key stay bounded however many addresses send it requests.
func TestSourcesAreBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		r := NewRecorder(db, quietLogger, nil)
		now := time.Now().UTC()
		addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, byte(i / 256), byte(i % 256)}) }
		const flushes, per = 4, 120
		total := 0
		for fl := range flushes {
			for i := range per {
				// The first address is the busiest in every flush.
				n := 1
				if i == 0 {
					n = 5
				}
				for range n {
					r.Record(f.keys[0], f.orgID, now, "allowed", "", addr(fl*per+i), "")
					total++
				}
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var rows int64
		if err := db.Model(&Source{}).Where("key_id = ? AND kind = ?", f.keys[0], SourceIP).Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if rows > sourceRowsPerDay+1 {
			t.Errorf("%d address rows for one key and day, want at most %d", rows, sourceRowsPerDay+1)
		}
		got, err := NewReader(db).Sources(ctx, f.orgID, f.keys[0], now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.IPs) != SourcesShown {
			t.Errorf("%d addresses listed, want %d", len(got.IPs), SourcesShown)
		}
		if got.IPs[0].Requests != 5 {
			t.Errorf("the busiest address has %d requests, want 5", got.IPs[0].Requests)
		}
		var sum int64
		for _, u := range got.IPs {
			sum += u.Requests
		}
		if sum+got.OtherRequests != int64(total) {
			t.Errorf("listed %d + other %d = %d requests, want %d", sum, got.OtherRequests, sum+got.OtherRequests, total)
		}
	})
}

// TestSourcesSurviveASpill: sources a shutdown could not write go to the
// spill file with the counts and reach the database at the next start.
func TestSourcesSurviveASpill(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		dir := t.TempDir()
		at := time.Now().UTC().Truncate(time.Second)
		day := at.Unix() - at.Unix()%86400
		b := newBatch()
		ip := netip.MustParseAddr("192.0.2.10")
		b.counts[countKey{keyID: f.keys[0], orgID: f.orgID, hour: at.Unix() - at.Unix()%3600, outcome: "allowed"}] = 7
		b.sources[sourceKey{keyID: f.keys[0], orgID: f.orgID, day: day, ip: ip, origin: "https://a.example"}] = sourceUse{n: 7, last: at}
		path, err := writeSpill(dir, store.NewID(), b)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(path) != dir {
			t.Fatalf("spill written to %s", path)
		}
		r := NewRecorder(db, quietLogger, nil)
		r.SpillDir = dir
		if err := r.Replay(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := NewReader(db).Sources(ctx, f.orgID, f.keys[0], at.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.IPs) != 1 || got.IPs[0].Value != "192.0.2.10" || got.IPs[0].Requests != 7 || !got.IPs[0].LastSeen.Equal(at) {
			t.Errorf("addresses after replay: %+v", got.IPs)
		}
		if len(got.Origins) != 1 || got.Origins[0].Value != "https://a.example" {
			t.Errorf("origins after replay: %+v", got.Origins)
		}
		// A malformed source makes the file unreadable rather than half
		// written.
		bad := newBatch()
		bad.sources[sourceKey{keyID: "not-a-uuid", orgID: f.orgID, day: day}] = sourceUse{n: 1, last: at}
		p, err := writeSpill(t.TempDir(), store.NewID(), bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := readSpill(p); err == nil {
			t.Error("a spill file with a malformed source was read")
		}
	})
}

func TestOriginPart(t *testing.T) {
	for in, want := range map[string]string{
		"https://shop.example.com/cart?id=1#x": "https://shop.example.com",
		"https://shop.example.com":             "https://shop.example.com",
		"https://shop.example.com?q=1":         "https://shop.example.com",
		"http://localhost:3000/":               "http://localhost:3000",
		"null":                                 "null",
		"":                                     "",
	} {
		if got := originPart(in); got != want {
			t.Errorf("originPart(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSourcesStayBoundedInMemory: however many addresses send a key
// requests, and however many failed flushes come back to a stripe during a
// database outage, a stripe holds a bounded number of sources, per key
// and in all, and every request is still counted.
func TestSourcesStayBoundedInMemory(t *testing.T) {
	r := NewRecorder(nil, nil, nil)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const keys, per = 100, 500
	var total int64
	for round := range 3 { // three failed flushes, each put back
		for k := range keys {
			for i := range per {
				ip := netip.AddrFrom4([4]byte{10, byte(round), byte(i / 256), byte(i % 256)})
				r.Record(fmt.Sprintf("key-%d", k), "org", at, "allowed", "", ip, fmt.Sprintf("https://site-%d.example/page/%d", i, i))
				total++
			}
		}
		r.putBack(r.take())
	}
	s := &r.stripes[0]
	if n := len(s.sources); n > stripeSources+keys {
		t.Errorf("stripe 0 holds %d sources after an outage, want at most %d", n, stripeSources+keys)
	}
	perKey := map[string]int{}
	var counted int64
	for k, u := range s.sources {
		counted += u.n
		if !k.isOther() {
			perKey[k.keyID]++
		}
		if strings.Contains(k.origin, "/page/") {
			t.Fatalf("a path reached memory: %q", k.origin)
		}
	}
	for id, n := range perKey {
		if n > keySources {
			t.Errorf("%s holds %d sources, want at most %d", id, n, keySources)
		}
	}
	if counted != total {
		t.Errorf("%d requests counted in sources, want %d", counted, total)
	}
}
