package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/org"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
)

var admin = audit.Actor{UserID: "", Email: "ada@example.com", IP: "192.0.2.1"}

// publicLookup resolves every name to a public address, except those the
// test maps elsewhere.
func publicLookup(m map[string]string) LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := m[host]; ok {
			if a == "" {
				return nil, errors.New("no such host")
			}
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		}
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
}

func testBox(t testing.TB) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("w", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return box
}

type fixture struct {
	db    *store.DB
	svc   *Service
	clock *clocktest.Clock
	orgID string
}

// newFixture returns a service on db with a settable clock and one
// organization; private addresses are allowed so httptest receivers on
// 127.0.0.1 are reachable, unless o says otherwise.
func newFixture(t *testing.T, db *store.DB, o Options) *fixture {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	o.Box = testBox(t)
	if o.Now == nil {
		o.Now = clock.Now
	}
	if o.Lookup == nil {
		o.Lookup = publicLookup(nil)
	}
	o2, err := org.NewService(db, nil).CreateWithoutMembers(context.Background(), "Acme", "acme", audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, svc: NewService(db, o), clock: clock, orgID: o2.ID}
}

func (f *fixture) endpoint(t *testing.T, url string, events ...string) Created {
	t.Helper()
	if len(events) == 0 {
		events = []string{AllEvents}
	}
	c, err := f.svc.Create(context.Background(), f.orgID, Input{URL: url, Description: "Receiver", Events: events}, admin)
	if err != nil {
		t.Fatalf("create endpoint %s: %v", url, err)
	}
	return c
}

func (f *fixture) deliveries(t *testing.T) []Delivery {
	t.Helper()
	var list []Delivery
	if err := f.db.Order("id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	return list
}

func (f *fixture) get(t *testing.T, id string) Delivery {
	t.Helper()
	var d Delivery
	if err := f.db.Where("id = ?", id).Take(&d).Error; err != nil {
		t.Fatal(err)
	}
	return d
}

// verifyStandard checks a request the way the Standard Webhooks
// specification tells receivers to, written from its text and sharing no
// code with Sign: the signed content is "{webhook-id}.{webhook-timestamp}.
// {body}", the key the base64 after "whsec_", the header a space-separated
// list of "v1,{base64 HMAC-SHA256}", and the timestamp within tolerance.
func verifyStandard(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp out of tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && subtle.ConstantTimeCompare(got, want) == 1 {
			return nil
		}
	}
	return errors.New("no matching signature")
}
