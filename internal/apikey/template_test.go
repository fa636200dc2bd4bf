package apikey

import (
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	good := map[string]struct {
		lead    string
		hasKind bool
		keyLen  int
	}{
		"kp_{kind}_{env}_": {"kp_", true, len("kp_sk_live_") + 36},
		"gsk_{env}_":       {"gsk_", false, len("gsk_live_") + 36},
		"msgine_{env}_":    {"msgine_", false, len("msgine_live_") + 36},
		"ab{env}_":         {"ab", false, len("ablive_") + 36},
		"x1_{env}_{kind}_": {"x1_", true, len("x1_live_sk_") + 36},
	}
	for tmpl, want := range good {
		f, err := ParseFormat(tmpl)
		if err != nil {
			t.Errorf("%q: %v", tmpl, err)
			continue
		}
		if f.Lead() != want.lead || f.HasKind() != want.hasKind || f.KeyLen() != want.keyLen || f.String() != tmpl {
			t.Errorf("%q: lead %q kind %v len %d", tmpl, f.Lead(), f.HasKind(), f.KeyLen())
		}
	}
	bad := map[string]string{
		"":                  "give a key format",
		"gsk_":              "needs {env}",
		"gsk_{env}":         "ends with _",
		"{env}_":            "starts with at least 2",
		"g{env}_":           "starts with at least 2",
		"1a_{env}_":         "lowercase letter",
		"Gsk_{env}_":        `"G" is not allowed`,
		"gs-k_{env}_":       `"-" is not allowed`,
		"gsk_{env}_{env}_":  "only once",
		"gsk_{env}{kind}_":  "between {env} and {kind}",
		"gsk_{mode}_{env}_": "only the placeholders",
		"gsk_{env}_" + strings.Repeat("a", 40) + "_": "at most 40",
	}
	for tmpl, msg := range bad {
		if _, err := ParseFormat(tmpl); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want one saying %q", tmpl, err, msg)
		}
	}
}

// TestFormatGenerateParse: every format's keys parse back to their
// environment (and kind, where written), and nothing else does.
func TestFormatGenerateParse(t *testing.T) {
	for _, tmpl := range []string{"kp_{kind}_{env}_", "gsk_{env}_", "x1_{env}_{kind}_"} {
		f := MustFormat(tmpl)
		for _, kind := range []Kind{Private, Public} {
			for _, env := range []Environment{Live, Test} {
				key, err := f.Generate(nil, kind, env)
				if err != nil {
					t.Fatal(err)
				}
				if len(key) != f.KeyLen() || !strings.HasPrefix(key, f.Lead()) {
					t.Fatalf("%s: key %q", tmpl, key)
				}
				p, err := f.Parse(key)
				wantKind := kind
				if !f.HasKind() {
					wantKind = ""
				}
				if err != nil || p.Environment != env || p.Kind != wantKind {
					t.Errorf("%s: Parse(%q) = %+v, %v", tmpl, key, p, err)
				}
				// One changed character anywhere is refused.
				for i := range key {
					b := []byte(key)
					b[i] ^= 1
					if _, err := f.Parse(string(b)); err == nil {
						t.Errorf("%s: %q with byte %d changed parses", tmpl, key, i)
					}
				}
				if _, err := f.Parse(key + "0"); err == nil {
					t.Errorf("%s: a longer key parses", tmpl)
				}
			}
		}
	}
	// The default format is the historical one.
	f, _ := DefaultFormat("kp")
	key, _ := f.Generate(nil, Public, Test)
	if !strings.HasPrefix(key, "kp_pk_test_") {
		t.Errorf("default format key %q", key)
	}
	if _, err := MustFormat("gsk_{env}_").Parse(key); err == nil {
		t.Error("another format's key parses")
	}
}

func TestFormatParseDoesNotAllocate(t *testing.T) {
	f := MustFormat("gsk_{env}_")
	key, _ := f.Generate(nil, Private, Live)
	if n := testing.AllocsPerRun(100, func() { _, _ = f.Parse(key) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"kp_", "kp_x_", true}, {"gsk_", "gs", true}, {"gsk_", "msgine_", false}, {"kp_", "kp_", true}, {"kp_", "kq_", false}} {
		if Overlaps(c.a, c.b) != c.want {
			t.Errorf("Overlaps(%q, %q) = %v", c.a, c.b, !c.want)
		}
	}
}
