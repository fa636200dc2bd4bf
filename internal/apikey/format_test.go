package apikey

import (
	"bytes"
	"strings"
	"testing"
)

// seqReader yields the bytes of seq over and over.
type seqReader struct {
	seq []byte
	i   int
}

func (r *seqReader) Read(p []byte) (int, error) {
	for n := range p {
		p[n] = r.seq[r.i%len(r.seq)]
		r.i++
	}
	return len(p), nil
}

func TestGenerateWithKnownRandomnessHasTheDocumentedChecksum(t *testing.T) {
	// Expected values computed independently (Python's zlib.crc32, then base62
	// with the alphabet 0-9A-Za-z, most significant digit first).
	zeros := &seqReader{seq: []byte{0}}
	key, err := Generate(zeros, "kp", Private, Live)
	if err != nil {
		t.Fatal(err)
	}
	// The CRC is 596165411, "eLRr9" in base62: five digits, padded to six.
	if want := "kp_sk_live_" + strings.Repeat("0", 30) + "0eLRr9"; key != want {
		t.Fatalf("key = %q, want %q", key, want)
	}

	seq := make([]byte, 30)
	for i := range seq {
		seq[i] = byte(10 + i)
	}
	key, err = Generate(&seqReader{seq: seq}, "acme", Public, Test)
	if err != nil {
		t.Fatal(err)
	}
	if want := "acme_pk_test_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd09ohWz"; key != want {
		t.Fatalf("key = %q, want %q", key, want)
	}
}

func TestGenerateRejectsBiasedBytes(t *testing.T) {
	// Bytes of 248 and above would favour the first characters; they are skipped.
	key, err := Generate(&seqReader{seq: []byte{255, 250, 248, 61}}, "kp", Private, Test)
	if err != nil {
		t.Fatal(err)
	}
	if secret := key[len("kp_sk_test_") : len(key)-ChecksumLen]; secret != strings.Repeat("z", 30) {
		t.Fatalf("secret = %q, want only z (byte 61)", secret)
	}
}

func TestGenerateParseRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []Kind{Private, Public} {
		for _, env := range []Environment{Live, Test} {
			for i := 0; i < 50; i++ {
				key, err := Generate(nil, "kp", kind, env)
				if err != nil {
					t.Fatal(err)
				}
				if seen[key] {
					t.Fatalf("duplicate key %q", key)
				}
				seen[key] = true
				p, err := Parse(key, "kp")
				if err != nil || p.Kind != kind || p.Environment != env {
					t.Fatalf("Parse(%q) = %+v, %v", key, p, err)
				}
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Generate(nil, "kp", Private, Live)
	flip := []byte(good)
	if flip[20] == 'a' {
		flip[20] = 'b'
	} else {
		flip[20] = 'a'
	}
	for name, key := range map[string]string{
		"empty":            "",
		"garbage":          "hello",
		"typo in secret":   string(flip),
		"other prefix":     "xx" + good[2:],
		"wrong kind":       strings.Replace(good, "_sk_", "_xk_", 1),
		"wrong env":        strings.Replace(good, "_live_", "_prod_", 1),
		"too long":         good + "0",
		"too short":        good[:len(good)-1],
		"non-base62":       good[:15] + "-" + good[16:],
		"upper-case tag":   strings.Replace(good, "_sk_", "_SK_", 1),
		"trailing newline": good[:len(good)-1] + "\n",
	} {
		if _, err := Parse(key, "kp"); err != ErrMalformed {
			t.Errorf("%s: Parse(%q) err = %v, want ErrMalformed", name, key, err)
		}
	}
}

func TestHashAndHint(t *testing.T) {
	key := "kp_sk_live_" + strings.Repeat("0", 26) + "a9Qz0eLRr9"
	if got := Hint(key); got != "kp_sk_live_…LRr9" {
		t.Fatalf("Hint = %q", got)
	}
	if bytes.Equal(Hash(key), Hash(key+"x")) || len(Hash(key)) != 32 {
		t.Fatal("Hash must be the 32-byte SHA-256 of the whole key")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Generate(nil, "kp", Public, Test)
	f.Add(good)
	f.Add("kp_sk_live_0000000000000000000000000000000eLRr9")
	f.Add("")
	f.Add("kp_sk_live_")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := Parse(key, "kp")
		if err != nil {
			return
		}
		// Anything accepted has the exact shape and a matching checksum.
		if len(key) != len("kp_sk_live_")+RandomLen+ChecksumLen || Checksum(key[:len(key)-ChecksumLen]) != key[len(key)-ChecksumLen:] {
			t.Fatalf("Parse accepted %q", key)
		}
		if (p.Kind == Public) != strings.HasPrefix(key, "kp_pk_") {
			t.Fatalf("kind %s for %q", p.Kind, key)
		}
	})
}
