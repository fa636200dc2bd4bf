package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// A list cursor names the last item of a page, (created_at, id), signed
// with the server's key and bound to the organization, so a cursor the
// server did not issue, or issued to another organization, is refused.

func (m *Management) cursor(orgID string, at time.Time, id string) string {
	payload := strconv.FormatInt(at.UnixNano(), 36) + "." + id
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + m.cursorMAC(orgID, payload)
}

func (m *Management) cursorMAC(orgID, payload string) string {
	mac := hmac.New(sha256.New, m.cursorKey)
	mac.Write([]byte(orgID + "\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// parseCursor reads a cursor issued by cursor for orgID; ok is false for
// anything else.
func (m *Management) parseCursor(orgID, s string) (at time.Time, id string, ok bool) {
	enc, sig, found := strings.Cut(s, ".")
	if !found {
		return time.Time{}, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return time.Time{}, "", false
	}
	payload := string(raw)
	if !hmac.Equal([]byte(sig), []byte(m.cursorMAC(orgID, payload))) {
		return time.Time{}, "", false
	}
	ns, id, found := strings.Cut(payload, ".")
	n, err := strconv.ParseInt(ns, 36, 64)
	if !found || err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, n).UTC(), id, true
}
