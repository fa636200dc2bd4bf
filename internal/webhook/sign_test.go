package webhook

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks reference libraries: a secret, a
// message id, a timestamp, a body and the signature they must give.
func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestSignVerifiesIndependently(t *testing.T) {
	secret, err := newSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	body := []byte(`{"type":"key.created","timestamp":"2026-03-01T12:00:00Z","data":{"id":"x"}}`)
	sig, err := Sign(secret, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl "+sig)
	if err := verifyStandard(secret, h, body, at, 5*time.Minute); err != nil {
		t.Fatalf("independent verification: %v", err)
	}
	if err := verifyStandard(secret, h, append(bytes.Clone(body), ' '), at, 5*time.Minute); err == nil {
		t.Error("a changed body verified")
	}
	other, _ := newSecret(nil)
	if err := verifyStandard(other, h, body, at, 5*time.Minute); err == nil {
		t.Error("another secret verified")
	}
	if _, err := Sign("whsec_not base64!", "msg_1", at, body); err == nil {
		t.Error("Sign accepted a malformed secret")
	}
}

func TestNewSecret(t *testing.T) {
	a, err := newSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSecret(nil)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, SecretPrefix))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(raw) != 32 || a == b {
		t.Errorf("secrets %q, %q: want whsec_ and the base64 of 32 random bytes, different each time", a, b)
	}
}
