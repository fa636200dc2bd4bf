package account_test

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
)

// phcRE is the PHC string of argon2id with OWASP parameters, a 16-byte salt
// and a 32-byte key, both in unpadded standard base64.
var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordIsArgon2idPHC(t *testing.T) {
	const pw = "correct horse battery staple"
	a, err := account.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	b, err := account.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	for _, h := range []string{a, b} {
		if !phcRE.MatchString(h) {
			t.Errorf("hash %q is not an argon2id PHC string with OWASP parameters", h)
		}
		if strings.Contains(h, pw) {
			t.Errorf("hash %q contains the password", h)
		}
	}
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %q", a)
	}
	if saltOf(a) == saltOf(b) {
		t.Errorf("two hashes share the salt %q", saltOf(a))
	}
}

func saltOf(phc string) string { return strings.Split(phc, "$")[4] }

func TestCheckPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := account.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	// A hash made with other parameters still verifies: they come from the
	// PHC string, not from the current constants.
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, 1, 8*1024, 2, 24)
	enc := base64.RawStdEncoding
	weaker := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=2$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))

	tests := []struct {
		name string
		pw   string
		phc  string
		want bool
	}{
		{"right password", pw, h, true},
		{"wrong password", "correct horse battery stapler", h, false},
		{"other case", strings.ToUpper(pw), h, false},
		{"empty password", "", h, false},
		{"other parameters, right password", pw, weaker, true},
		{"other parameters, wrong password", "nope nope nope", weaker, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := account.CheckPassword(tt.pw, tt.phc)
			if err != nil {
				t.Fatalf("CheckPassword: %v", err)
			}
			if got != tt.want {
				t.Errorf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckPasswordMalformedHash(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := account.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	parts := strings.Split(h, "$") // "", "argon2id", "v=19", "m=...,t=...,p=...", salt, key
	salt, key := parts[4], parts[5]
	with := func(alg, version, params, salt, key string) string {
		return strings.Join([]string{"", alg, version, params, salt, key}, "$")
	}
	const params = "m=19456,t=2,p=1"
	tests := []struct {
		name string
		phc  string
	}{
		{"empty", ""},
		{"plain text", pw},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with("argon2i", "v=19", params, salt, key)},
		{"argon2d", with("argon2d", "v=19", params, salt, key)},
		{"old version", with("argon2id", "v=16", params, salt, key)},
		{"no version", with("argon2id", "", params, salt, key)},
		{"too few parts", "$argon2id$v=19$" + params + "$" + salt},
		{"too many parts", h + "$extra"},
		{"params missing p", with("argon2id", "v=19", "m=19456,t=2", salt, key)},
		{"params not numbers", with("argon2id", "v=19", "m=x,t=y,p=z", salt, key)},
		{"params empty", with("argon2id", "v=19", "", salt, key)},
		{"zero memory", with("argon2id", "v=19", "m=0,t=2,p=1", salt, key)},
		{"zero time", with("argon2id", "v=19", "m=19456,t=0,p=1", salt, key)},
		{"zero threads", with("argon2id", "v=19", "m=19456,t=2,p=0", salt, key)},
		{"threads overflow", with("argon2id", "v=19", "m=19456,t=2,p=256", salt, key)},
		{"negative memory", with("argon2id", "v=19", "m=-1,t=2,p=1", salt, key)},
		{"salt not base64", with("argon2id", "v=19", params, "!!not base64!!", key)},
		{"padded salt", with("argon2id", "v=19", params, salt+"==", key)},
		{"key not base64", with("argon2id", "v=19", params, salt, "***")},
		{"empty key", with("argon2id", "v=19", params, salt, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := account.CheckPassword(pw, tt.phc)
			if err == nil {
				t.Fatalf("CheckPassword(%q) = %v, nil; want an error", tt.phc, ok)
			}
			if ok {
				t.Errorf("CheckPassword(%q) accepted the password", tt.phc)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name  string
		pw    string
		valid bool
	}{
		{"empty", "", false},
		{"11 characters", strings.Repeat("a", 11), false},
		{"12 characters", strings.Repeat("a", 12), true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"129 characters", strings.Repeat("a", 129), false},
		{"12 spaces, no composition rules", strings.Repeat(" ", 12), true},
		{"11 two-byte runes", strings.Repeat("é", 11), false},
		{"12 two-byte runes", strings.Repeat("é", 12), true},
		{"12 three-byte runes", strings.Repeat("€", 12), true},
		{"128 four-byte runes", strings.Repeat("😀", 128), true},
		{"129 four-byte runes", strings.Repeat("😀", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := account.ValidatePassword(tt.pw)
			if tt.valid {
				if err != nil {
					t.Fatalf("ValidatePassword(%d runes) = %v, want nil", len([]rune(tt.pw)), err)
				}
				return
			}
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("ValidatePassword(%d runes) = %v, want Invalid", len([]rune(tt.pw)), err)
			}
			fields := apperr.FieldsOf(err)
			if len(fields) != 1 || fields["password"] == "" {
				t.Errorf("fields = %v, want one message on password", fields)
			}
		})
	}
}
