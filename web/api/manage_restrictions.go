package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apikey"
	"keyplane/internal/usage"
)

// The modes of a restriction as keys and restrictions show them.
const (
	ModeEnforce    = "enforce"
	ModeReportOnly = "report_only"
)

// modesOf is every restriction of k with its mode.
func modesOf(k apikey.Key) map[string]string {
	out := make(map[string]string, len(apikey.Restrictions))
	for _, r := range apikey.Restrictions {
		out[string(r)] = ModeEnforce
		if k.ReportOnly().Has(r) {
			out[string(r)] = ModeReportOnly
		}
	}
	return out
}

// Restriction is one restriction of a key, its mode and what it let
// through in report-only mode.
type Restriction struct {
	Name        string `json:"name" enum:"ips,domains,rate_limit,scopes,quota"`
	Mode        string `json:"mode" enum:"enforce,report_only"`
	Set         bool   `json:"set" doc:"Whether the key has this restriction at all: an IP allowlist, allowed domains (public keys), a rate limit, a quota of its own. Every key has scopes."`
	WouldRefuse int64  `json:"would_refuse" doc:"Requests of the last 7 days it let through in report-only mode that it would have refused."`
}

// WouldRefuse is what a key's report-only restrictions let through.
type WouldRefuse struct {
	Total   int64            `json:"total"`
	Codes   map[string]int64 `json:"codes" nullable:"false" doc:"Per refusal code they would have answered: ip_not_allowed, domain_not_allowed, anonymous_request, rate_limited, forbidden, quota_exceeded."`
	IPs     int              `json:"ips" doc:"The distinct client addresses that sent them."`
	MoreIPs bool             `json:"more_ips" doc:"Some addresses were past what is kept per day: there were more than ips."`
}

// KeyRestrictions are a key's restrictions with their modes.
type KeyRestrictions struct {
	Period       string        `json:"period" enum:"7d" doc:"The window of the counts: the last 7 days."`
	Restrictions []Restriction `json:"restrictions" nullable:"false"`
	WouldRefuse  WouldRefuse   `json:"would_refuse"`
}

type keyRestrictionsOutput struct {
	Body KeyRestrictions
}

// restrictionsOf is key k's restrictions as the API answers them.
func (m *Management) restrictionsOf(ctx context.Context, k apikey.Key) (*keyRestrictionsOutput, error) {
	w, err := m.usage.WouldRefuse(ctx, k.OrgID, k.ID, m.now().AddDate(0, 0, -usage.WouldDays))
	if err != nil {
		return nil, m.fail(err)
	}
	out := KeyRestrictions{Period: "7d", WouldRefuse: WouldRefuse{Total: w.Total, Codes: w.Codes, IPs: w.IPs, MoreIPs: w.MoreIPs}}
	modes := modesOf(k)
	for _, r := range apikey.Restrictions {
		out.Restrictions = append(out.Restrictions, Restriction{
			Name: string(r), Mode: modes[string(r)], Set: k.Has(r), WouldRefuse: w.Restrictions[string(r)],
		})
	}
	return &keyRestrictionsOutput{Body: out}, nil
}

// GetKeyRestrictions is GET /api/v1/keys/{id}/restrictions: every
// restriction of the key with its mode, and what the report-only ones let
// through in the last 7 days. Another organization's key is 404.
func (m *Management) GetKeyRestrictions(ctx context.Context, in *KeyInput) (*keyRestrictionsOutput, error) {
	k, err := m.keys.Get(ctx, credentialOf(ctx).key.OrgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	return m.restrictionsOf(ctx, k)
}

// RestrictionMode chooses a restriction's mode.
type RestrictionMode struct {
	Mode string `json:"mode" enum:"enforce,report,report_only" example:"enforce" doc:"enforce refuses what the restriction does not allow; report (or report_only) lets it through and counts it as would_<code>."`
}

// SetRestrictionInput switches one restriction of one key.
type SetRestrictionInput struct {
	ID   string `path:"id" doc:"The key's id."`
	Name string `path:"name" enum:"ips,domains,rate_limit,scopes,quota" doc:"The restriction."`
	Body RestrictionMode
}

// SetKeyRestriction is PUT /api/v1/keys/{id}/restrictions/{name}: one
// call switches one restriction, within a second everywhere; the same
// mode again changes nothing. 200 with the key's restrictions; 409 for a
// revoked, expired or replaced key.
func (m *Management) SetKeyRestriction(ctx context.Context, in *SetRestrictionInput) (*keyRestrictionsOutput, error) {
	cred := credentialOf(ctx)
	r, _ := apikey.ParseRestriction(in.Name)
	k, err := m.keys.SetReportOnly(ctx, cred.key.OrgID, in.ID, r, in.Body.Mode != ModeEnforce, cred.actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return m.restrictionsOf(ctx, k)
}

// ScopeUse is a scope requests needed.
type ScopeUse struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
}

// KeySuggestions are what a key's traffic of the last 30 days used, as
// restrictions apply would set.
type KeySuggestions struct {
	Days    int         `json:"days" doc:"How far back: 30 days."`
	IPs     []SourceUse `json:"ips" nullable:"false" doc:"The client addresses proposed for the IP allowlist, the most used first."`
	Origins []SourceUse `json:"origins" nullable:"false" doc:"The origins proposed for the allowed domains (public keys only)."`
	Scopes  []ScopeUse  `json:"scopes" nullable:"false" doc:"The scopes proposed: those needed by requests that were let through, of the product's catalogue."`
	// What no suggestion covers.
	OtherRequests       int64    `json:"other_requests" doc:"Requests from addresses not listed (past what is kept, or unknown)."`
	OtherOriginRequests int64    `json:"other_origin_requests" doc:"Requests from origins not listed."`
	TooLongRequests     int64    `json:"too_long_requests" doc:"Requests needing more scopes than could be recorded."`
	LeftOut             []string `json:"left_out" nullable:"false" doc:"Addresses, origins and scopes seen that this key cannot hold."`
	Applies             []string `json:"applies" nullable:"false" doc:"The restrictions apply sets, each in report-only mode: ips, domains, scopes."`
}

type keySuggestionsOutput struct {
	Body KeySuggestions
}

// suggestionOf is what key k's traffic of the last 30 days used, and what
// of it k can take.
func (m *Management) suggestionOf(ctx context.Context, k apikey.Key) (usage.Suggestion, apikey.Suggestion, []string, error) {
	used, err := m.usage.Suggest(ctx, k.OrgID, k.ID, m.now().AddDate(0, 0, -usage.SuggestDays))
	if err != nil {
		return usage.Suggestion{}, apikey.Suggestion{}, nil, m.fail(err)
	}
	sg, left, err := m.keys.Propose(k, usage.Values(used.IPs), usage.Values(used.Origins), usage.ScopeNames(used.Scopes))
	if err != nil {
		return usage.Suggestion{}, apikey.Suggestion{}, nil, m.fail(err)
	}
	return used, sg, left, nil
}

// GetKeySuggestions is GET /api/v1/keys/{id}/suggestions: the addresses,
// origins (public keys) and scopes the key's traffic of the last 30 days
// used, and what they cannot cover. Another organization's key is 404.
func (m *Management) GetKeySuggestions(ctx context.Context, in *KeyInput) (*keySuggestionsOutput, error) {
	k, err := m.keys.Get(ctx, credentialOf(ctx).key.OrgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	used, sg, left, err := m.suggestionOf(ctx, k)
	if err != nil {
		return nil, err
	}
	out := KeySuggestions{
		Days: usage.SuggestDays, IPs: []SourceUse{}, Origins: []SourceUse{}, Scopes: []ScopeUse{}, LeftOut: []string{}, Applies: []string{},
		OtherRequests: used.OtherRequests, TooLongRequests: used.TooLongRequests,
	}
	for _, u := range used.IPs {
		if slices.Contains(sg.IPs, u.Value) {
			out.IPs = append(out.IPs, SourceUse{Value: u.Value, Requests: u.Requests, LastSeen: u.LastSeen.UTC()})
		}
	}
	if k.Kind == apikey.Public {
		out.OtherOriginRequests = used.OtherOrigins
		for _, u := range used.Origins {
			if slices.Contains(sg.Origins, u.Value) {
				out.Origins = append(out.Origins, SourceUse{Value: u.Value, Requests: u.Requests, LastSeen: u.LastSeen.UTC()})
			}
		}
	}
	for _, u := range used.Scopes {
		if slices.Contains(sg.Scopes, u.Scope) {
			out.Scopes = append(out.Scopes, ScopeUse{Name: u.Scope, Requests: u.Requests})
		}
	}
	out.LeftOut = append(out.LeftOut, left...)
	for _, r := range sg.Restrictions(k) {
		out.Applies = append(out.Applies, string(r))
	}
	return &keySuggestionsOutput{Body: out}, nil
}

// ApplyKeySuggestions is POST /api/v1/keys/{id}/suggestions/apply: sets
// the key's IP allowlist, allowed domains (public keys) and scopes to
// what its traffic of the last 30 days used, each in report-only mode,
// in one change. 200 with the key; 422 when there is nothing to apply;
// 409 for a revoked, expired or replaced key.
func (m *Management) ApplyKeySuggestions(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	k, err := m.keys.Get(ctx, cred.key.OrgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	_, sg, _, err := m.suggestionOf(ctx, k)
	if err != nil {
		return nil, err
	}
	return m.answerKey(ctx)(m.keys.Restrict(ctx, cred.key.OrgID, k.ID, sg, cred.actor))
}

var exampleRestrictions = KeyRestrictions{
	Period: "7d",
	Restrictions: []Restriction{
		{Name: "ips", Mode: ModeReportOnly, Set: true, WouldRefuse: 214},
		{Name: "domains", Mode: ModeEnforce},
		{Name: "rate_limit", Mode: ModeEnforce},
		{Name: "scopes", Mode: ModeEnforce, Set: true},
		{Name: "quota", Mode: ModeEnforce},
	},
	WouldRefuse: WouldRefuse{Total: 214, Codes: map[string]int64{"ip_not_allowed": 214}, IPs: 3},
}

// GetKeyRestrictionsOp is GET /v1/keys/{id}/restrictions.
func GetKeyRestrictionsOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "get-key-restrictions", Method: http.MethodGet, Path: "/keys/{id}/restrictions", Summary: "A key's restrictions and their modes",
		Description: "Each restriction (ips, domains, rate_limit, scopes, quota) with its mode, enforce or report_only, and what the report-only ones let through in the last 7 days " +
			"that they would have refused (counted as would_<code> in the usage).",
		Errors: []int{http.StatusNotFound},
	}, nil, exampleRestrictions)
}

// SetKeyRestrictionOp is PUT /v1/keys/{id}/restrictions/{name}.
func SetKeyRestrictionOp() huma.Operation {
	return documented(huma.Operation{
		OperationID: "set-key-restriction", Method: http.MethodPut, Path: "/keys/{id}/restrictions/{name}", Summary: "Enforce a restriction, or let it report only",
		Description: "Switches one restriction of a key: enforce, or report (report_only), which lets through what it would refuse and counts it. " +
			"Every server follows within a second; the other restrictions are untouched, even by a switch made at the same moment. The same mode again changes nothing. " +
			"An unknown restriction or mode is 422; a revoked, expired or replaced key 409.",
		Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, RestrictionMode{Mode: "enforce"}, exampleRestrictions)
}

// GetKeySuggestionsOp is GET /v1/keys/{id}/suggestions.
func GetKeySuggestionsOp() huma.Operation {
	seen := time.Date(2026, 3, 9, 14, 12, 0, 0, time.UTC)
	return documented(huma.Operation{
		OperationID: "get-key-suggestions", Method: http.MethodGet, Path: "/keys/{id}/suggestions", Summary: "Restrictions from a key's traffic",
		Description: "The client addresses, origins (public keys) and scopes the key's requests of the last 30 days used: what apply would set as report-only restrictions, " +
			"and the traffic they would not cover.",
		Errors: []int{http.StatusNotFound},
	}, nil, KeySuggestions{
		Days: 30, IPs: []SourceUse{{Value: "203.0.113.7", Requests: 1204, LastSeen: seen}}, Origins: []SourceUse{},
		Scopes: []ScopeUse{{Name: "read", Requests: 1180}}, OtherRequests: 3, LeftOut: []string{}, Applies: []string{"ips", "scopes"},
	})
}

// ApplyKeySuggestionsOp is POST /v1/keys/{id}/suggestions/apply.
func ApplyKeySuggestionsOp() huma.Operation {
	restricted := exampleKey
	restricted.IPs, restricted.Scopes = []string{"203.0.113.7/32"}, []string{"read", "keys:manage"}
	restricted.ReportOnly = []string{"ips", "scopes"}
	restricted.Modes = map[string]string{"ips": ModeReportOnly, "domains": ModeEnforce, "rate_limit": ModeEnforce, "scopes": ModeReportOnly, "quota": ModeEnforce}
	return documented(huma.Operation{
		OperationID: "apply-key-suggestions", Method: http.MethodPost, Path: "/keys/{id}/suggestions/apply", Summary: "Restrict a key to what it uses",
		Description: "Sets the key's IP allowlist, allowed domains (public keys) and scopes to what its requests of the last 30 days used, each in report-only mode, " +
			"in one change: nothing is refused until they are enforced. A restriction nothing was seen for is left as it is; a key holding keys:manage keeps it. " +
			"Nothing to apply is 422; a revoked, expired or replaced key 409.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, nil, restricted)
}
