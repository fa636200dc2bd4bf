package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification suggests, so receivers and secret scanners recognise it.
const SecretPrefix = "whsec_"

// SecretBytes is how many random bytes a signing secret holds.
const SecretBytes = 32

// Headers of a delivery, as the Standard Webhooks specification names
// them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// newSecret returns a new signing secret: SecretPrefix and the standard
// base64 of SecretBytes random bytes from r (crypto/rand when nil).
func newSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, SecretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// errSecret is the error of a secret that is not SecretPrefix and base64.
var errSecret = errors.New("webhook: malformed signing secret")

// secretKey returns the HMAC key of secret: its base64 part, decoded.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header of a message: "v1," and the
// standard base64 of HMAC-SHA256, keyed with the decoded secret, over
// "{id}.{unix seconds}.{body}". Returns an error for a secret that is not
// SecretPrefix and base64.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
