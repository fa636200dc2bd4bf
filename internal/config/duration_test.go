package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90d", 90 * day, false},
		{"1d", day, false},
		{"0d", 0, false},
		{"12h", 12 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"5m", 5 * time.Minute, false},
		{"0", 0, false},
		{"-1m", -time.Minute, false},
		{"-2d", -2 * day, false},
		{"1d12h", 36 * time.Hour, false},
		{"", 0, true},
		{"5", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"12h1d", 0, true},
		{"1d-12h", 0, true},
		{"1dd", 0, true},
		{"--1d", 0, true},
		{"banana", 0, true},
		{"9999999999d", 0, true},
		{"106751d24h", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
