package leak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
)

func TestParse(t *testing.T) {
	ok, err := Parse([]byte(`[{"token":"a","type":"t","url":"https://github.com/x","source":"content"},{"token":"b"}]`))
	if err != nil || len(ok) != 2 || ok[0].URL != "https://github.com/x" || ok[1].Token != "b" {
		t.Fatalf("Parse: %+v, %v", ok, err)
	}
	for name, body := range map[string]string{
		"empty body":     ``,
		"object":         `{"token":"a"}`,
		"null":           `null`,
		"no token":       `[{"type":"t"}]`,
		"two values":     `[] []`,
		"not JSON":       `[{token:a}]`,
		"huge token":     `[{"token":"` + strings.Repeat("a", 1001) + `"}]`,
		"too many":       `[` + strings.Repeat(`{"token":"a"},`, MaxReports) + `{"token":"a"}]`,
		"wrong type":     `[{"token":42}]`,
		"truncated JSON": `[{"token":"a"`,
	} {
		if _, err := Parse([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// fakeKeys knows the hashes of some keys, flagged or not yet.
type fakeKeys struct {
	known   map[string]bool // hex hash → flagged already
	failOn  string
	reports []apikey.Leak
}

func (f *fakeKeys) ReportLeak(_ context.Context, hash []byte, l apikey.Leak, _ audit.Actor) (apikey.Leaked, bool, error) {
	h := hex.EncodeToString(hash)
	if h == f.failOn {
		return apikey.Leaked{}, false, errors.New("database away")
	}
	f.reports = append(f.reports, l)
	flagged, ok := f.known[h]
	if !ok {
		return apikey.Leaked{}, false, nil
	}
	f.known[h] = true
	return apikey.Leaked{Key: apikey.Key{ID: h[:8]}, First: !flagged}, true, nil
}

func TestProcess(t *testing.T) {
	hash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	keys := &fakeKeys{known: map[string]bool{hash("live"): false, hash("seen"): true}}
	reports := []Report{{Token: "live", Type: "kp", URL: "u1"}, {Token: "unknown", Type: "kp"}, {Token: "seen", Type: "other"}}
	labels, flagged, err := Process(context.Background(), keys, reports, "GitHub secret scanning", audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Label{
		{TokenHash: hash("live"), TokenType: "kp", Label: TruePositive},
		{TokenHash: hash("unknown"), TokenType: "kp", Label: FalsePositive},
		{TokenHash: hash("seen"), TokenType: "other", Label: TruePositive},
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Errorf("label %d = %+v, want %+v", i, labels[i], want[i])
		}
	}
	if len(flagged) != 1 || flagged[0].Key.ID != hash("live")[:8] {
		t.Errorf("flagged now: %+v, want only the live key", flagged)
	}
	if keys.reports[0].URL != "u1" || keys.reports[0].Source != "GitHub secret scanning" {
		t.Errorf("report passed on as %+v", keys.reports[0])
	}
	keys.failOn = hash("unknown")
	if _, _, err := Process(context.Background(), keys, reports, "s", audit.Actor{}); err == nil {
		t.Error("an error of the key service was not returned")
	}
}
