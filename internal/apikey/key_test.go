package apikey

import (
	"testing"
	"time"
)

func at(t time.Time) *time.Time { return &t }

func TestKeyStatusAt(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	id := "0190a0b0-0000-7000-8000-000000000001"
	tests := []struct {
		name string
		key  Key
		want Status
	}{
		{"no deadline", Key{}, Active},
		{"expiry far away", Key{ExpiresAt: at(now.AddDate(1, 0, 0))}, Active},
		{"expiry one second beyond 7 days", Key{ExpiresAt: at(now.Add(ExpiringWithin + time.Second))}, Active},
		{"expiry exactly 7 days away", Key{ExpiresAt: at(now.Add(ExpiringWithin))}, Expiring},
		{"expiry within 7 days", Key{ExpiresAt: at(now.Add(3 * 24 * time.Hour))}, Expiring},
		{"expiry in one second", Key{ExpiresAt: at(now.Add(time.Second))}, Expiring},
		{"grace deadline in an hour", Key{ReplacedByID: &id, GraceUntil: at(now.Add(time.Hour))}, Expiring},
		{"grace within 7 days, expiry in a year", Key{ReplacedByID: &id, GraceUntil: at(now.Add(6 * 24 * time.Hour)), ExpiresAt: at(now.AddDate(1, 0, 0))}, Expiring},
		{"expiry close, grace far", Key{GraceUntil: at(now.AddDate(0, 1, 0)), ExpiresAt: at(now.Add(time.Hour))}, Expiring},
		{"expiry at now", Key{ExpiresAt: at(now)}, Expired},
		{"expiry passed", Key{ExpiresAt: at(now.Add(-time.Second))}, Expired},
		{"grace ends at now", Key{ReplacedByID: &id, GraceUntil: at(now)}, Expired},
		{"grace passed, expiry in a year", Key{ReplacedByID: &id, GraceUntil: at(now.Add(-time.Minute)), ExpiresAt: at(now.AddDate(1, 0, 0))}, Expired},
		{"revoked", Key{RevokedAt: at(now.Add(-time.Hour))}, Revoked},
		{"revoked and expired", Key{RevokedAt: at(now.Add(-time.Hour)), ExpiresAt: at(now.Add(-2 * time.Hour))}, Revoked},
		{"revoked while expiring", Key{RevokedAt: at(now.Add(-time.Hour)), ExpiresAt: at(now.Add(time.Hour))}, Revoked},
		{"revoked in its grace period", Key{RevokedAt: at(now.Add(-time.Hour)), ReplacedByID: &id, GraceUntil: at(now.Add(time.Hour))}, Revoked},
		{"revoked after its grace ended", Key{RevokedAt: at(now), ReplacedByID: &id, GraceUntil: at(now.Add(-time.Hour))}, Revoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.StatusAt(now); got != tt.want {
				t.Errorf("StatusAt = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyDeadline(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	early, late := now.Add(time.Hour), now.Add(48*time.Hour)
	tests := []struct {
		name string
		key  Key
		want *time.Time
	}{
		{"none", Key{}, nil},
		{"expiry only", Key{ExpiresAt: at(late)}, &late},
		{"grace only", Key{GraceUntil: at(early)}, &early},
		{"grace earlier than expiry", Key{ExpiresAt: at(late), GraceUntil: at(early)}, &early},
		{"expiry earlier than grace", Key{ExpiresAt: at(early), GraceUntil: at(late)}, &early},
		{"both the same", Key{ExpiresAt: at(early), GraceUntil: at(early)}, &early},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.key.Deadline()
			switch {
			case (got == nil) != (tt.want == nil):
				t.Errorf("Deadline = %v, want %v", got, tt.want)
			case got != nil && !got.Equal(*tt.want):
				t.Errorf("Deadline = %v, want %v", *got, *tt.want)
			}
		})
	}
}

func TestKeyEditable(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	id := "0190a0b0-0000-7000-8000-000000000001"
	tests := []struct {
		name string
		key  Key
		want bool
	}{
		{"active", Key{}, true},
		{"active with a far expiry", Key{ExpiresAt: at(now.AddDate(1, 0, 0))}, true},
		{"expiring soon", Key{ExpiresAt: at(now.Add(time.Hour))}, true},
		{"revoked", Key{RevokedAt: at(now.Add(-time.Hour))}, false},
		{"expired", Key{ExpiresAt: at(now.Add(-time.Hour))}, false},
		{"expired at now", Key{ExpiresAt: at(now)}, false},
		{"replaced, in its grace period", Key{ReplacedByID: &id, GraceUntil: at(now.Add(time.Hour))}, false},
		{"replaced, grace over", Key{ReplacedByID: &id, GraceUntil: at(now.Add(-time.Hour))}, false},
		{"replaced, no grace recorded", Key{ReplacedByID: &id}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Editable(now); got != tt.want {
				t.Errorf("Editable = %v, want %v (status %q)", got, tt.want, tt.key.StatusAt(now))
			}
		})
	}
}

func TestKeyInGrace(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		key  Key
		want bool
	}{
		{"never rotated", Key{}, false},
		{"grace ahead", Key{GraceUntil: at(now.Add(time.Minute))}, true},
		{"grace ends now", Key{GraceUntil: at(now)}, false},
		{"grace over", Key{GraceUntil: at(now.Add(-time.Minute))}, false},
		{"revoked during grace", Key{GraceUntil: at(now.Add(time.Minute)), RevokedAt: at(now)}, false},
	}
	for _, tt := range tests {
		if got := tt.key.InGrace(now); got != tt.want {
			t.Errorf("%s: InGrace = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestListScanAndValue(t *testing.T) {
	for _, src := range []any{nil, "", []byte("")} {
		l := List{"stale"}
		if err := l.Scan(src); err != nil || l != nil {
			t.Errorf("Scan(%#v) = %q, %v; want nil list", src, l, err)
		}
	}
	for _, src := range []any{"read\nsms:send", []byte("read\nsms:send")} {
		var l List
		if err := l.Scan(src); err != nil || len(l) != 2 || l[0] != "read" || l[1] != "sms:send" {
			t.Errorf("Scan(%#v) = %q, %v", src, l, err)
		}
	}
	var l List
	if err := l.Scan(42); err == nil {
		t.Error("Scan(42) accepted")
	}
	v, err := List{"10.0.0.0/8", "2001:db8::/32"}.Value()
	if err != nil || v != "10.0.0.0/8\n2001:db8::/32" {
		t.Errorf("Value = %#v, %v", v, err)
	}
	if v, _ := List(nil).Value(); v != "" {
		t.Errorf("nil Value = %#v, want empty string (the column is NOT NULL)", v)
	}
}
