package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/usage"
)

// sourcesDays is how far back a key's sources go, as on its page.
const sourcesDays = 30

// KeySources is where a key was used in the last 30 days.
type KeySources struct {
	IPs           []SourceUse `json:"ips" nullable:"false" doc:"Client addresses, the most used first, at most 50."`
	Origins       []SourceUse `json:"origins" nullable:"false" doc:"Web origins (scheme://host[:port]) from Origin or Referer, the most used first, at most 50."`
	OtherRequests int64       `json:"other_requests" doc:"Requests from addresses not listed (past the bounds, or unknown)."`
}

// SourceUse is one address or origin with its requests.
type SourceUse struct {
	Value    string    `json:"value"`
	Requests int64     `json:"requests"`
	LastSeen time.Time `json:"last_seen"`
}

type keySourcesOutput struct {
	Body KeySources
}

func sourceUses(list []usage.SourceUse) []SourceUse {
	out := make([]SourceUse, 0, len(list))
	for _, u := range list {
		out = append(out, SourceUse{Value: u.Value, Requests: u.Requests, LastSeen: u.LastSeen.UTC()})
	}
	return out
}

// KeySourcesOf is GET /api/v1/keys/{id}/sources: the client addresses and
// origins of the key's requests in the last 30 days. Another
// organization's key is 404.
func (m *Management) KeySourcesOf(ctx context.Context, in *KeyInput) (*keySourcesOutput, error) {
	orgID := credentialOf(ctx).key.OrgID
	k, err := m.keys.Get(ctx, orgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	src, err := m.usage.Sources(ctx, orgID, k.ID, m.now().AddDate(0, 0, -sourcesDays))
	if err != nil {
		return nil, m.fail(err)
	}
	return &keySourcesOutput{Body: KeySources{IPs: sourceUses(src.IPs), Origins: sourceUses(src.Origins), OtherRequests: src.OtherRequests}}, nil
}

// KeySourcesOp is GET /v1/keys/{id}/sources.
func KeySourcesOp() huma.Operation {
	seen := time.Date(2026, 3, 9, 14, 12, 0, 0, time.UTC)
	op := documented(huma.Operation{
		OperationID: "get-key-sources", Method: http.MethodGet, Path: "/keys/{id}/sources", Summary: "Where a key is used",
		Description: "The client addresses and web origins of the key's requests in the last 30 days, with their requests and the last time seen: " +
			"who must get a new key before this one is revoked. Counted with the usage (every 5 seconds), per UTC day.",
		Errors: []int{http.StatusNotFound},
	}, nil, KeySources{
		IPs:     []SourceUse{{Value: "203.0.113.7", Requests: 1204, LastSeen: seen}},
		Origins: []SourceUse{{Value: "https://shop.example.com", Requests: 310, LastSeen: seen}},
	})
	op.Tags = []string{"Usage"}
	return op
}
