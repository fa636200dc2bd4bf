package leak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
)

// MaxReports bounds the tokens of one request.
const MaxReports = 1000

// Report is one token found in public, as GitHub sends it: the token, the
// secret type GitHub matched, where it was found and in what kind of
// content.
type Report struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Label is the answer for one report: the token's SHA-256 (hex), its type
// as reported, and whether it was a live key.
type Label struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// The labels.
const (
	TruePositive  = "true_positive"
	FalsePositive = "false_positive"
)

// ErrMalformed is a body that is not a JSON array of reports, has too many
// of them, or a report without a token.
var ErrMalformed = errors.New("leak: malformed report")

// Parse reads a request body: a JSON array of at most MaxReports reports,
// each with a token. Returns ErrMalformed (wrapped with the reason).
func Parse(body []byte) ([]Report, error) {
	var reports []Report
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&reports); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrMalformed)
	}
	if reports == nil {
		return nil, fmt.Errorf("%w: not a JSON array", ErrMalformed)
	}
	if len(reports) > MaxReports {
		return nil, fmt.Errorf("%w: more than %d tokens in one request", ErrMalformed, MaxReports)
	}
	for i, r := range reports {
		if r.Token == "" || len(r.Token) > 1000 {
			return nil, fmt.Errorf("%w: report %d has no token, or one of over 1,000 bytes", ErrMalformed, i)
		}
	}
	return reports, nil
}

// Keys is what Process needs of the key service.
type Keys interface {
	ReportLeak(ctx context.Context, hash []byte, leak apikey.Leak, actor audit.Actor) (apikey.Leaked, bool, error)
}

// Process hands each report to keys, as found by source ("GitHub secret
// scanning", or the operator token's name), and answers a label for each,
// in order: true_positive for a key that is not revoked (flagged now or
// before), false_positive for anything else. It stops at the first error
// of the key service, so the reporter can retry the whole request.
func Process(ctx context.Context, keys Keys, reports []Report, source string, actor audit.Actor) ([]Label, []apikey.Leaked, error) {
	labels := make([]Label, 0, len(reports))
	var flagged []apikey.Leaked
	for _, r := range reports {
		sum := sha256.Sum256([]byte(r.Token))
		l := Label{TokenHash: hex.EncodeToString(sum[:]), TokenType: r.Type, Label: FalsePositive}
		res, ok, err := keys.ReportLeak(ctx, sum[:], apikey.Leak{URL: r.URL, Source: source}, actor)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			l.Label = TruePositive
			if res.First {
				flagged = append(flagged, res)
			}
		}
		labels = append(labels, l)
	}
	return labels, flagged, nil
}
