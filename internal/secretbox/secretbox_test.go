package secretbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"keyplane/internal/secretbox"
)

var (
	key1 = secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("a", 32))}
	key2 = secretbox.Key{ID: 2, Secret: []byte(strings.Repeat("b", 40))}
)

func TestSealOpen(t *testing.T) {
	box, err := secretbox.New(key1)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("JBSWY3DPEHPK3PXP")
	sealed := box.Seal(plain, []byte("user-1"))
	if bytes.Contains(sealed, plain) {
		t.Fatalf("sealed value %x contains the plaintext", sealed)
	}
	if sealed[0] != 1 {
		t.Errorf("sealed value starts with %d, want the key id 1", sealed[0])
	}
	if again := box.Seal(plain, []byte("user-1")); bytes.Equal(again, sealed) {
		t.Errorf("two seals of the same value are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, []byte("user-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}

	// Bound to its associated data, its key and its bytes.
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	other, _ := secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("z", 32))})
	for name, open := range map[string]func() ([]byte, error){
		"other data":  func() ([]byte, error) { return box.Open(sealed, []byte("user-2")) },
		"flipped bit": func() ([]byte, error) { return box.Open(flipped, []byte("user-1")) },
		"other key":   func() ([]byte, error) { return other.Open(sealed, []byte("user-1")) },
		"truncated":   func() ([]byte, error) { return box.Open(sealed[:10], []byte("user-1")) },
		"empty":       func() ([]byte, error) { return box.Open(nil, []byte("user-1")) },
	} {
		if _, err := open(); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("%s: Open error %v, want ErrOpen", name, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, _ := secretbox.New(key1)
	sealedOld := old.Seal([]byte("seed"), nil)
	box, err := secretbox.New(key2, key1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := box.Open(sealedOld, nil); err != nil || string(got) != "seed" {
		t.Fatalf("a value sealed under the old key: Open = %q, %v", got, err)
	}
	if sealed := box.Seal([]byte("seed"), nil); sealed[0] != 2 {
		t.Errorf("new values sealed under key %d, want 2", sealed[0])
	}
	if _, err := old.Open(box.Seal([]byte("seed"), nil), nil); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("a box without key 2 opened a value sealed under it: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for name, keys := range map[string][]secretbox.Key{
		"none":      nil,
		"short":     {{ID: 1, Secret: []byte("short")}},
		"id 0":      {{ID: 0, Secret: key1.Secret}},
		"duplicate": {key1, {ID: 1, Secret: key2.Secret}},
	} {
		if _, err := secretbox.New(keys...); err == nil {
			t.Errorf("%s: New accepted %v", name, keys)
		}
	}
}
