package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/quota"
)

// Quota is a quota as the management API shows and takes it: requests
// per period ({"limit", "period"}) or credits ({"credits", "refill"}).
// Reads add what the current period spent (requests) or what is left
// (credits), and when the period ends.
type Quota struct {
	Limit   *int64       `json:"limit,omitempty" minimum:"1" maximum:"1000000000000" example:"10000" doc:"Requests per period (with period)."`
	Period  string       `json:"period,omitempty" enum:"day,month" doc:"The UTC day or calendar month the limit counts in."`
	Credits *int64       `json:"credits,omitempty" minimum:"1" maximum:"1000000000000" doc:"A balance of credits (instead of limit and period); each request spends its cost."`
	Refill  *QuotaRefill `json:"refill,omitempty" doc:"Credits only: the balance is set to amount every interval; leftovers do not carry over."`
	Spent   *int64       `json:"spent,omitempty" readOnly:"true" doc:"Read only: requests spent in the current period (written every few seconds)."`
	Balance *int64       `json:"balance,omitempty" readOnly:"true" doc:"Read only: credits left in the current period, top-ups included."`
	Reset   *time.Time   `json:"reset,omitempty" readOnly:"true" doc:"Read only: when the current period ends; absent for credits never refilled."`
}

// TransformSchema makes the quota nullable wherever it appears: null is
// "no quota".
func (Quota) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	s.Nullable = true
	return s
}

// QuotaRefill refills a credits quota.
type QuotaRefill struct {
	Amount   int64  `json:"amount" minimum:"1" maximum:"1000000000000" example:"1000"`
	Interval string `json:"interval" example:"1d" doc:"1m to 366d: a number of minutes (m), hours (h) or days (d)."`
}

// quotaInput turns q into the service's input (none for nil).
func quotaInput(q *Quota) (apikey.QuotaInput, error) {
	if q == nil {
		return apikey.QuotaInput{}, nil
	}
	bad := func(msg string) error { return apperr.InvalidFields(map[string]string{"quota": msg}) }
	switch {
	case q.Credits != nil && (q.Limit != nil || q.Period != ""):
		return apikey.QuotaInput{}, bad("Give either limit and period, or credits.")
	case q.Credits != nil:
		in := apikey.QuotaInput{Kind: string(quota.Credits), Limit: strconv.FormatInt(*q.Credits, 10)}
		if q.Refill != nil {
			in.Refill, in.RefillAmount = q.Refill.Interval, strconv.FormatInt(q.Refill.Amount, 10)
		}
		return in, nil
	case q.Limit == nil || q.Period == "":
		return apikey.QuotaInput{}, bad("Give limit and period (day or month), or credits.")
	case q.Refill != nil:
		return apikey.QuotaInput{}, bad("Only credits are refilled.")
	}
	return apikey.QuotaInput{Kind: q.Period, Limit: strconv.FormatInt(*q.Limit, 10)}, nil
}

// quotaOf writes spec as stored (nil: no quota).
func quotaOf(spec *quota.Spec) *Quota {
	if spec == nil {
		return nil
	}
	limit := spec.Limit
	if spec.Kind != quota.Credits {
		return &Quota{Limit: &limit, Period: string(spec.Kind)}
	}
	q := &Quota{Credits: &limit}
	if spec.Refill > 0 {
		amount := spec.Limit
		if spec.RefillAmount > 0 {
			amount = spec.RefillAmount
		}
		q.Refill = &QuotaRefill{Amount: amount, Interval: apikey.FormatInterval(spec.Refill)}
	}
	return q
}

// quotaRead is quotaOf with the standing of the current period.
func quotaRead(st *apikey.QuotaState) *Quota {
	if st == nil {
		return nil
	}
	q := quotaOf(&st.Spec)
	if st.Spec.Kind == quota.Credits {
		q.Balance = &st.Remaining
	} else {
		q.Spent = &st.Spent
	}
	if !st.Reset.IsZero() {
		r := st.Reset.UTC()
		q.Reset = &r
	}
	return q
}

// inputQuota is the stored quota of k as the service's input, so an update
// that does not name the quota keeps it.
func inputQuota(spec *quota.Spec) apikey.QuotaInput {
	if spec == nil {
		return apikey.QuotaInput{}
	}
	in := apikey.QuotaInput{Kind: string(spec.Kind), Limit: strconv.FormatInt(spec.Limit, 10)}
	if spec.Refill > 0 {
		in.Refill = apikey.FormatInterval(spec.Refill)
	}
	if spec.RefillAmount > 0 {
		in.RefillAmount = strconv.FormatInt(spec.RefillAmount, 10)
	}
	return in
}

// CreditsBody adds credits.
type CreditsBody struct {
	Amount int64 `json:"amount" example:"5000" doc:"Credits to add to the current period's balance, 1 to 1000000000000."`
}

// AddKeyCreditsInput tops up one key.
type AddKeyCreditsInput struct {
	ID   string `path:"id" doc:"The key's id."`
	Body CreditsBody
}

// AddKeyCredits is POST /api/v1/keys/{id}/credits: 200 with the key.
func (m *Management) AddKeyCredits(ctx context.Context, in *AddKeyCreditsInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	return m.answerKey(ctx)(m.keys.TopUp(ctx, cred.key.OrgID, in.ID, in.Body.Amount, cred.actor))
}

// OrgQuota is the organization's quota, shared by all its keys.
type OrgQuota struct {
	Quota      *Quota `json:"quota" doc:"null for none."`
	ReportOnly bool   `json:"report_only" doc:"Requests over the quota are let through and counted as would_quota_exceeded."`
}

type orgQuotaOutput struct{ Body OrgQuota }

// OrgQuotaSettings replace the organization's quota.
type OrgQuotaSettings struct {
	Quota      *Quota `json:"quota" doc:"null for none."`
	ReportOnly bool   `json:"report_only,omitempty" doc:"Let requests over the quota through, counted as would_quota_exceeded; false when absent."`
}

// SetOrgQuotaInput replaces the organization's quota.
type SetOrgQuotaInput struct {
	Body OrgQuotaSettings
}

// GetOrgQuota is GET /api/v1/quota.
func (m *Management) GetOrgQuota(ctx context.Context, _ *struct{}) (*orgQuotaOutput, error) {
	q, err := m.keys.OrgQuota(ctx, credentialOf(ctx).key.OrgID, m.now())
	return m.orgQuota(q, err)
}

// SetOrgQuota is PUT /api/v1/quota.
func (m *Management) SetOrgQuota(ctx context.Context, in *SetOrgQuotaInput) (*orgQuotaOutput, error) {
	cred := credentialOf(ctx)
	qi, err := quotaInput(in.Body.Quota)
	if err != nil {
		return nil, m.fail(err)
	}
	q, err := m.keys.SetOrgQuota(ctx, cred.key.OrgID, qi, in.Body.ReportOnly, cred.actor)
	return m.orgQuota(q, err)
}

// AddOrgCreditsInput tops up the organization's quota.
type AddOrgCreditsInput struct {
	Body CreditsBody
}

// AddOrgCredits is POST /api/v1/quota/credits.
func (m *Management) AddOrgCredits(ctx context.Context, in *AddOrgCreditsInput) (*orgQuotaOutput, error) {
	cred := credentialOf(ctx)
	q, err := m.keys.TopUpOrg(ctx, cred.key.OrgID, in.Body.Amount, cred.actor)
	return m.orgQuota(q, err)
}

func (m *Management) orgQuota(q apikey.OrgQuota, err error) (*orgQuotaOutput, error) {
	if err != nil {
		return nil, m.fail(err)
	}
	return &orgQuotaOutput{Body: OrgQuota{Quota: quotaRead(q.State), ReportOnly: q.ReportOnly}}, nil
}

var (
	exampleCredits, exampleBalance = int64(50_000), int64(41_200)
	exampleOrgQuota                = OrgQuota{Quota: &Quota{Credits: &exampleCredits, Balance: &exampleBalance,
		Refill: &QuotaRefill{Amount: 50_000, Interval: "30d"}}}
)

func quotaOp(op huma.Operation, request, response any) huma.Operation {
	op = documented(op, request, response)
	op.Tags = []string{"Quotas"}
	return op
}

// AddKeyCreditsOp is POST /v1/keys/{id}/credits.
func AddKeyCreditsOp() huma.Operation {
	k := exampleKey
	k.Quota = &Quota{Credits: &exampleCredits, Balance: &exampleBalance}
	return quotaOp(huma.Operation{
		OperationID: "add-key-credits", Method: http.MethodPost, Path: "/keys/{id}/credits", Summary: "Add credits to a key",
		Description: "Adds credits to the current period's balance of a key with a credits quota (and of a rotated key sharing it). Credits added count until the next refill. Recorded in the audit log; every server knows within a second.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, CreditsBody{Amount: 5000}, k)
}

// GetOrgQuotaOp is GET /v1/quota.
func GetOrgQuotaOp() huma.Operation {
	return quotaOp(huma.Operation{
		OperationID: "get-org-quota", Method: http.MethodGet, Path: "/quota", Summary: "Get the organization's quota",
		Description: "The quota all the organization's keys share, with the current period's standing.",
	}, nil, exampleOrgQuota)
}

// SetOrgQuotaOp is PUT /v1/quota.
func SetOrgQuotaOp() huma.Operation {
	return quotaOp(huma.Operation{
		OperationID: "set-org-quota", Method: http.MethodPut, Path: "/quota", Summary: "Set the organization's quota",
		Description: "Replaces the quota all the organization's keys share (null for none). Keeping the kind and refill keeps what the period spent; a new kind starts afresh. Recorded in the audit log; every server knows within a second.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, OrgQuotaSettings{Quota: &Quota{Credits: &exampleCredits, Refill: &QuotaRefill{Amount: 50_000, Interval: "30d"}}}, exampleOrgQuota)
}

// AddOrgCreditsOp is POST /v1/quota/credits.
func AddOrgCreditsOp() huma.Operation {
	return quotaOp(huma.Operation{
		OperationID: "add-org-credits", Method: http.MethodPost, Path: "/quota/credits", Summary: "Add credits to the organization",
		Description: "Adds credits to the current period's balance of the organization's credits quota. Recorded in the audit log.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, CreditsBody{Amount: 5000}, exampleOrgQuota)
}
