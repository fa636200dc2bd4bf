package api

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/config"
	"keyplane/internal/idempotency"
)

// Key is an API key as the management API shows it: the names of
// `keyplane keys list --json`, plus its limits, revocation and source.
// The key itself is never part of it, except once in CreatedKey.
type Key struct {
	ID                 string     `json:"id" format:"uuid" example:"01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70"`
	Description        string     `json:"description" example:"CI deployer"`
	Hint               string     `json:"hint" example:"kp_sk_live_…a9Qz" doc:"Kind and environment prefix and the last 4 characters of the key."`
	Product            string     `json:"product" example:"default" doc:"The slug of the key's product."`
	Kind               string     `json:"kind" enum:"private,public"`
	Environment        string     `json:"environment" enum:"live,test"`
	Scopes             []string   `json:"scopes" nullable:"false" example:"[\"read\",\"keys:manage\"]"`
	Domains            []string   `json:"domains" nullable:"false" doc:"Allowed origins of a public key."`
	IPs                []string   `json:"ips" nullable:"false" doc:"Allowed client addresses (CIDR); empty allows any."`
	Status             string     `json:"status" enum:"active,expiring,expired,disabled,revoked"`
	Source             string     `json:"source" enum:"generated,imported"`
	CreatedAt          time.Time  `json:"created_at"`
	ExpiresAt          *time.Time `json:"expires_at" nullable:"true" doc:"When the key stops working: its expiry, or the end of a rotation's grace period."`
	LastUsedAt         *time.Time `json:"last_used_at" nullable:"true"`
	DisabledAt         *time.Time `json:"disabled_at" nullable:"true" doc:"Since when the key is paused; null unless disabled."`
	RevokedAt          *time.Time `json:"revoked_at" nullable:"true"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute" nullable:"true"`
	BlockMinutes       *int       `json:"block_minutes" nullable:"true"`
	Requests24h        int64      `json:"requests_24h" doc:"Requests in the last 24 hours, every outcome."`
	Quota              *Quota     `json:"quota" doc:"The key's own quota; null for none."`
	// Report-only restrictions: see manage_restrictions.go.
	ReportOnly []string          `json:"report_only" nullable:"false" doc:"The restrictions in report-only mode: what they would refuse is let through and counted as would_<code>."`
	Modes      map[string]string `json:"modes" nullable:"false" doc:"Every restriction (ips, domains, rate_limit, scopes, quota) and its mode: enforce or report_only."`
}

// CreatedKey is a new key with its secret, answered once by create and
// rotate.
type CreatedKey struct {
	Key
	Secret string `json:"secret" example:"kp_sk_live_3xAmPLe0nLyN0tARealKeyAtA11a9Qz0wr1Fb" doc:"The whole key. Shown once: store it now."`
}

// KeyList is a page of keys.
type KeyList struct {
	Data       []Key   `json:"data" nullable:"false"`
	NextCursor *string `json:"next_cursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page."`
}

func keyJSON(k apikey.Key, now time.Time, requests int64, quotas map[string]apikey.QuotaState) Key {
	var q *Quota
	if st, ok := quotas[k.ID]; ok {
		q = quotaRead(&st)
	}
	return Key{
		Quota: q,
		ID:    k.ID, Description: k.Description, Hint: k.Hint, Product: k.Product, Kind: string(k.Kind), Environment: string(k.Environment),
		Scopes: orEmpty(k.Scopes), Domains: orEmpty(k.Domains), IPs: orEmpty(k.IPs), Status: string(k.StatusAt(now)),
		Source: sourceOf(k), CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utc(k.Deadline()), LastUsedAt: utc(k.LastUsedAt),
		DisabledAt: utc(k.DisabledAt), RevokedAt: utc(k.RevokedAt), RateLimitPerMinute: k.RateLimitPerMinute, BlockMinutes: k.BlockMinutes,
		Requests24h: requests, ReportOnly: orEmpty(k.ReportOnly().List()), Modes: modesOf(k),
	}
}

func sourceOf(k apikey.Key) string {
	if k.Source == "" {
		return string(apikey.SourceGenerated)
	}
	return string(k.Source)
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// present answers key k of the caller's organization as JSON, with its
// traffic of the last 24 hours.
func (m *Management) present(ctx context.Context, k apikey.Key) (Key, error) {
	now := m.now()
	activity, err := m.usage.Activity(ctx, k.OrgID, now)
	if err != nil {
		return Key{}, m.fail(err)
	}
	quotas, err := m.keys.QuotaStates(ctx, k.OrgID, []apikey.Key{k}, now)
	if err != nil {
		return Key{}, m.fail(err)
	}
	return keyJSON(k, now, activity[k.ID].Last24h, quotas), nil
}

// fail is err as the Problem a handler returns, its cause logged when it is
// the server's fault.
func (m *Management) fail(err error) *Problem {
	p := serviceProblem(err)
	if p.GetStatus() >= 500 {
		m.logger.Error("management API request failed", "err", err)
	}
	return p
}

// answerKey answers the key a service call returned, or its error: what
// get, update, revoke and end-grace answer.
func (m *Management) answerKey(ctx context.Context) func(apikey.Key, error) (*keyOutput, error) {
	return func(k apikey.Key, err error) (*keyOutput, error) {
		if err != nil {
			return nil, m.fail(err)
		}
		out, err := m.present(ctx, k)
		if err != nil {
			return nil, err
		}
		return &keyOutput{Body: out}, nil
	}
}

type keyOutput struct {
	Body Key
}

type createdOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         CreatedKey
}

type keyListOutput struct {
	Body KeyList
}

// ListKeysInput filters and pages the keys list.
type ListKeysInput struct {
	Status      string `query:"status" enum:"active,expiring,expired,disabled,revoked" doc:"Only keys in this status."`
	Environment string `query:"environment" enum:"live,test"`
	Kind        string `query:"kind" enum:"private,public"`
	Product     string `query:"product" maxLength:"40" doc:"Only keys of this product (its slug)."`
	Q           string `query:"q" maxLength:"200" doc:"Matches the description (any case), the id or the hint."`
	Limit       int    `query:"limit" minimum:"1" maximum:"100" default:"50" doc:"Keys per page."`
	Cursor      string `query:"cursor" maxLength:"200" doc:"next_cursor of the previous page."`
}

// ListKeys is GET /api/v1/keys: the organization's keys, newest first.
func (m *Management) ListKeys(ctx context.Context, in *ListKeysInput) (*keyListOutput, error) {
	orgID := credentialOf(ctx).key.OrgID
	var after struct {
		at time.Time
		id string
	}
	if in.Cursor != "" {
		at, id, ok := m.parseCursor(orgID, in.Cursor)
		if !ok {
			p := NewProblem(CodeInvalid, "Please correct the highlighted fields.")
			p.Detail.Fields = []FieldError{{Name: "cursor", Message: "This cursor was not issued by this server for this organization; pass next_cursor unchanged."}}
			return nil, p
		}
		after.at, after.id = at, id
	}
	keys, err := m.keys.List(ctx, orgID, apikey.Filter{
		Status: apikey.Status(in.Status), Environment: apikey.Environment(in.Environment), Kind: apikey.Kind(in.Kind),
		Product: in.Product,
	})
	if err != nil {
		return nil, m.fail(err)
	}
	now := m.now()
	activity, err := m.usage.Activity(ctx, orgID, now)
	if err != nil {
		return nil, m.fail(err)
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 50
	}
	term := strings.ToLower(strings.TrimSpace(in.Q))
	out := KeyList{Data: []Key{}}
	var page []apikey.Key
	for _, k := range keys {
		if in.Cursor != "" {
			at := k.CreatedAt.UTC()
			if at.After(after.at) || (at.Equal(after.at) && k.ID >= after.id) {
				continue
			}
		}
		if term != "" && !strings.Contains(strings.ToLower(k.Description), term) && k.ID != term &&
			!strings.Contains(strings.ToLower(k.Hint), term) {
			continue
		}
		if len(out.Data) == limit {
			last := out.Data[limit-1]
			c := m.cursor(orgID, last.CreatedAt, last.ID)
			out.NextCursor = &c
			break
		}
		out.Data = append(out.Data, keyJSON(k, now, activity[k.ID].Last24h, nil))
		page = append(page, k)
	}
	quotas, err := m.keys.QuotaStates(ctx, orgID, page, now)
	if err != nil {
		return nil, m.fail(err)
	}
	for i, k := range page {
		if st, ok := quotas[k.ID]; ok {
			out.Data[i].Quota = quotaRead(&st)
		}
	}
	return &keyListOutput{Body: out}, nil
}

// KeyInput names one key of the caller's organization.
type KeyInput struct {
	ID string `path:"id" doc:"The key's id." example:"01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70"`
}

// GetKey is GET /api/v1/keys/{id}.
func (m *Management) GetKey(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	return m.answerKey(ctx)(m.keys.Get(ctx, credentialOf(ctx).key.OrgID, in.ID))
}

// KeySettings are the settings of a new key.
type KeySettings struct {
	Product            string   `json:"product,omitempty" maxLength:"40" doc:"The slug of the key's product; the default product when absent."`
	Description        string   `json:"description" example:"CI deployer" doc:"What the key is for, 1 to 200 characters."`
	Kind               string   `json:"kind,omitempty" enum:"private,public" default:"private"`
	Environment        string   `json:"environment,omitempty" enum:"live,test" default:"live"`
	Scopes             []string `json:"scopes,omitempty" example:"[\"read\"]" doc:"Scopes from the product's catalogue, or the built-ins admin and keys:manage (private keys only)."`
	Domains            []string `json:"domains,omitempty" doc:"Allowed origins: example.com, *.example.com or https://app.example.com:8443. A public key needs one."`
	IPs                []string `json:"ips,omitempty" doc:"Allowed client addresses or CIDR ranges."`
	ExpiresAt          string   `json:"expires_at,omitempty" doc:"A date (the key works through that day, UTC) or an RFC 3339 time."`
	RateLimitPerMinute *int     `json:"rate_limit_per_minute,omitempty" nullable:"true" doc:"Requests per minute (per client IP for public keys)."`
	BlockMinutes       *int     `json:"block_minutes,omitempty" nullable:"true" doc:"Minutes a client is blocked after exceeding the rate limit."`
	Quota              *Quota   `json:"quota,omitempty" doc:"The key's own quota: {\"limit\", \"period\"} or {\"credits\", \"refill\"}; none when absent."`
	ReportOnly         []string `json:"report_only,omitempty" doc:"Restrictions in report-only mode (ips, domains, rate_limit, scopes, quota); the others are enforced."`
}

func (s KeySettings) input() (apikey.Input, error) {
	in := apikey.Input{
		Product: s.Product, Description: s.Description, Kind: s.Kind, Environment: s.Environment, Scopes: s.Scopes,
		Domains: strings.Join(s.Domains, "\n"), IPs: strings.Join(s.IPs, "\n"),
		RateLimit: intString(s.RateLimitPerMinute), BlockMinutes: intString(s.BlockMinutes), ReportOnly: s.ReportOnly,
	}
	setExpiry(&in, s.ExpiresAt)
	if in.Kind == "" {
		in.Kind = string(apikey.Private)
	}
	if in.Environment == "" {
		in.Environment = string(apikey.Live)
	}
	var err error
	in.Quota, err = quotaInput(s.Quota)
	return in, err
}

// setExpiry sets in's expiry from the API's expires_at: an RFC 3339 time
// to the second, else a date (anything else fails validation as a date).
func setExpiry(in *apikey.Input, s string) {
	in.ExpiresAt, in.ExpiresAtTime = "", time.Time{}
	if at, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		in.ExpiresAtTime = at
		return
	}
	in.ExpiresAt = s
}

func intString(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// CreateKeyInput is a new key's settings.
type CreateKeyInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes a retry safe: the same request again answers 409 idempotency_replay with the first key's id."`
	RawBody        []byte
	Body           KeySettings
}

// CreateKey is POST /api/v1/keys: 201 with the new key and its secret.
func (m *Management) CreateKey(ctx context.Context, in *CreateKeyInput) (*createdOutput, error) {
	cred := credentialOf(ctx)
	var created apikey.Created
	hash := idempotency.Hash([]byte("POST /v1/keys"), in.RawBody)
	settings, err := in.Body.input()
	if err != nil {
		return nil, m.fail(err)
	}
	err = m.idem.Do(ctx, cred.key.ID, in.IdempotencyKey, hash, func(ctx context.Context) (string, error) {
		var err error
		created, err = m.keys.Create(ctx, cred.key.OrgID, "", settings, cred.actor)
		return created.Key.ID, err
	})
	if err != nil {
		return nil, m.fail(err)
	}
	return m.reveal(ctx, created)
}

func (m *Management) reveal(ctx context.Context, c apikey.Created) (*createdOutput, error) {
	k, err := m.present(ctx, c.Key)
	if err != nil {
		return nil, err
	}
	return &createdOutput{CacheControl: "no-store", Body: CreatedKey{Key: k, Secret: c.Secret}}, nil
}

// KeyChanges are the settings PATCH may change; an absent property keeps
// its value, null clears expires_at, rate_limit_per_minute and
// block_minutes.
type KeyChanges struct {
	Description        *string   `json:"description,omitempty" example:"CI deployer (staging)"`
	Scopes             *[]string `json:"scopes,omitempty" doc:"Replaces the scopes. A key may not remove keys:manage from itself."`
	Domains            *[]string `json:"domains,omitempty"`
	IPs                *[]string `json:"ips,omitempty"`
	ExpiresAt          *string   `json:"expires_at,omitempty" nullable:"true" doc:"A date or an RFC 3339 time; null for none."`
	RateLimitPerMinute *int      `json:"rate_limit_per_minute,omitempty" nullable:"true"`
	BlockMinutes       *int      `json:"block_minutes,omitempty" nullable:"true"`
	Quota              *Quota    `json:"quota,omitempty" doc:"Replaces the key's own quota; null for none."`
	ReportOnly         *[]string `json:"report_only,omitempty" doc:"Replaces the restrictions in report-only mode; to switch one, PUT /keys/{id}/restrictions/{name}."`
	Kind               *string   `json:"kind,omitempty" doc:"Cannot change: only the key's own kind is accepted."`
	Environment        *string   `json:"environment,omitempty" doc:"Cannot change: only the key's own environment is accepted."`
	Product            *string   `json:"product,omitempty" doc:"Cannot change: only the key's own product is accepted."`
}

// UpdateKeyInput changes one key.
type UpdateKeyInput struct {
	ID      string `path:"id" doc:"The key's id."`
	RawBody []byte
	Body    KeyChanges
}

// UpdateKey is PATCH /api/v1/keys/{id}: 200 with the key as it now is.
func (m *Management) UpdateKey(ctx context.Context, in *UpdateKeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	k, err := m.keys.Get(ctx, cred.key.OrgID, in.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	var present map[string]json.RawMessage
	json.Unmarshal(in.RawBody, &present)
	ch := in.Body
	fields := map[string]string{}
	if ch.Kind != nil && *ch.Kind != string(k.Kind) {
		fields["kind"] = "The kind of a key cannot change; create a new key instead."
	}
	if ch.Environment != nil && *ch.Environment != string(k.Environment) {
		fields["environment"] = "The environment of a key cannot change; create a new key instead."
	}
	if ch.Product != nil && *ch.Product != k.Product {
		fields["product"] = "The product of a key cannot change; create a key of the other product instead."
	}
	if len(fields) > 0 {
		return nil, m.fail(apperr.InvalidFields(fields))
	}
	s := apikey.Input{
		Description: k.Description, Scopes: k.Scopes, Domains: strings.Join(k.Domains, "\n"), IPs: strings.Join(k.IPs, "\n"),
		RateLimit: intString(k.RateLimitPerMinute), BlockMinutes: intString(k.BlockMinutes),
		Quota: inputQuota(k.QuotaSpec()), ReportOnly: k.ReportOnly().List(),
	}
	if k.ExpiresAt != nil {
		s.ExpiresAt = apikey.ExpiryDate(*k.ExpiresAt)
	}
	if _, ok := present["quota"]; ok {
		if s.Quota, err = quotaInput(ch.Quota); err != nil {
			return nil, m.fail(err)
		}
	}
	if ch.Description != nil {
		s.Description = *ch.Description
	}
	if ch.Scopes != nil {
		s.Scopes = *ch.Scopes
	}
	if ch.Domains != nil {
		s.Domains = strings.Join(*ch.Domains, "\n")
	}
	if ch.IPs != nil {
		s.IPs = strings.Join(*ch.IPs, "\n")
	}
	if ch.ReportOnly != nil {
		s.ReportOnly = *ch.ReportOnly
	}
	if _, ok := present["expires_at"]; ok {
		setExpiry(&s, "")
		if ch.ExpiresAt != nil {
			setExpiry(&s, *ch.ExpiresAt)
		}
	}
	if _, ok := present["rate_limit_per_minute"]; ok {
		s.RateLimit = intString(ch.RateLimitPerMinute)
	}
	if _, ok := present["block_minutes"]; ok {
		s.BlockMinutes = intString(ch.BlockMinutes)
	}
	if k.ID == cred.key.ID && !slices.Contains(s.Scopes, config.ScopeKeysManage) {
		return nil, NewProblem(CodeConflict, "A key cannot remove keys:manage from itself; use another key with keys:manage.")
	}
	return m.answerKey(ctx)(m.keys.Update(ctx, cred.key.OrgID, k.ID, s, cred.actor))
}

// RotateBody chooses when the old key stops working.
type RotateBody struct {
	Grace        string `json:"grace" enum:"0,1h,24h,7d,168h" example:"24h" doc:"How long the old key keeps working: now (0), 1 hour, 24 hours or 7 days (7d or 168h)."`
	EndWhenQuiet bool   `json:"end_when_quiet,omitempty" doc:"End the grace period early once the old key has had no request for 1 hour. Only with a grace of 24h or 7d: with 0 or 1h it is refused (422, field end_when_quiet)."`
}

// RotateKeyInput rotates one key.
type RotateKeyInput struct {
	ID             string `path:"id" doc:"The key to rotate."`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes a retry safe, as for create."`
	RawBody        []byte
	Body           RotateBody
}

// RotateKey is POST /api/v1/keys/{id}/rotate: 201 with the new key and its
// secret; the old key works until its grace period ends.
func (m *Management) RotateKey(ctx context.Context, in *RotateKeyInput) (*createdOutput, error) {
	cred := credentialOf(ctx)
	grace := in.Body.Grace
	if grace == "7d" {
		grace = "168h"
	}
	var created apikey.Created
	hash := idempotency.Hash([]byte("POST /v1/keys/"+in.ID+"/rotate"), in.RawBody)
	err := m.idem.Do(ctx, cred.key.ID, in.IdempotencyKey, hash, func(ctx context.Context) (string, error) {
		var err error
		created, _, err = m.keys.RotateWith(ctx, cred.key.OrgID, in.ID, apikey.Rotation{Grace: grace, EndWhenQuiet: in.Body.EndWhenQuiet}, cred.actor)
		return created.Key.ID, err
	})
	if err != nil {
		return nil, m.fail(err)
	}
	return m.reveal(ctx, created)
}
