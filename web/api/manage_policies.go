package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apperr"
	"keyplane/internal/org"
)

// Policies are the organization's key policies, and the keys its maximum
// lifetime contradicts.
type Policies struct {
	MaxKeyLifetimeDays *int   `json:"max_key_lifetime_days" nullable:"true" example:"90" doc:"New, rotated and edited keys must expire within this many days (through the end of that day, UTC); null for no limit."`
	IdleDays           *int   `json:"idle_days" nullable:"true" example:"90" doc:"Keys unused this long (counted from their creation when never used) are idle: announced by key.idle; null never flags them."`
	IdleDisable        bool   `json:"idle_disable" doc:"Whether a key is also disabled when it becomes idle."`
	LeakPolicy         string `json:"leak_policy" enum:"notify,disable" doc:"What happens to a key found in public: notify flags it; disable also stops a private key at once."`
	// KeysBeyondMaxLifetime lists what the maximum lifetime contradicts.
	KeysBeyondMaxLifetime []PolicyKey `json:"keys_beyond_max_lifetime" nullable:"false" doc:"Working keys that expire later than the maximum lifetime allows, or never. They were made before it and keep working; none is changed by a policy."`
}

// PolicyKey names a key in Policies.
type PolicyKey struct {
	ID          string     `json:"id" format:"uuid"`
	Description string     `json:"description"`
	Hint        string     `json:"hint"`
	ExpiresAt   *time.Time `json:"expires_at" nullable:"true"`
}

// PolicyChanges are what PATCH may change; an absent property keeps its
// value, null turns it off.
type PolicyChanges struct {
	MaxKeyLifetimeDays *int    `json:"max_key_lifetime_days,omitempty" nullable:"true" doc:"1 to 3650; null for no limit."`
	IdleDays           *int    `json:"idle_days,omitempty" nullable:"true" doc:"1 to 3650; null to never flag keys idle."`
	IdleDisable        *bool   `json:"idle_disable,omitempty" doc:"Needs an idle period."`
	LeakPolicy         *string `json:"leak_policy,omitempty" enum:"notify,disable" doc:"What happens to a key found in public."`
}

// UpdatePoliciesInput changes the key policies.
type UpdatePoliciesInput struct {
	RawBody []byte
	Body    PolicyChanges
}

type policiesOutput struct{ Body Policies }

// GetPolicies is GET /api/v1/policies.
func (m *Management) GetPolicies(ctx context.Context, _ *struct{}) (*policiesOutput, error) {
	orgID := credentialOf(ctx).key.OrgID
	p, err := m.orgs.KeyPolicy(ctx, orgID)
	if err != nil {
		return nil, m.fail(err)
	}
	return m.policies(ctx, orgID, p)
}

// UpdatePolicies is PATCH /api/v1/policies: 200 with the policies as they
// now are. No key changes.
func (m *Management) UpdatePolicies(ctx context.Context, in *UpdatePoliciesInput) (*policiesOutput, error) {
	cred := credentialOf(ctx)
	p, err := m.orgs.KeyPolicy(ctx, cred.key.OrgID)
	if err != nil {
		return nil, m.fail(err)
	}
	var present map[string]json.RawMessage
	json.Unmarshal(in.RawBody, &present)
	fields := map[string]string{}
	days := func(name string, v *int, dst *int) {
		if _, ok := present[name]; !ok {
			return
		}
		switch {
		case v == nil:
			*dst = 0
		case *v < 1 || *v > org.MaxPolicyDays:
			fields[name] = fmt.Sprintf("Give a whole number of days from 1 to %d, or null to turn it off.", org.MaxPolicyDays)
		default:
			*dst = *v
		}
	}
	days("max_key_lifetime_days", in.Body.MaxKeyLifetimeDays, &p.MaxLifetimeDays)
	days("idle_days", in.Body.IdleDays, &p.IdleDays)
	if in.Body.IdleDisable != nil {
		p.IdleDisable = *in.Body.IdleDisable
	}
	if len(fields) > 0 {
		return nil, m.fail(apperr.InvalidFields(fields))
	}
	if _, err := m.orgs.SetKeyPolicy(ctx, cred.key.OrgID, p, cred.actor); err != nil {
		return nil, m.fail(err)
	}
	if in.Body.LeakPolicy != nil {
		if err := m.orgs.SetLeakPolicy(ctx, cred.key.OrgID, *in.Body.LeakPolicy, cred.actor); err != nil {
			return nil, m.fail(err)
		}
	}
	return m.policies(ctx, cred.key.OrgID, p)
}

func (m *Management) policies(ctx context.Context, orgID string, p org.KeyPolicy) (*policiesOutput, error) {
	leak, err := m.orgs.LeakPolicyOf(ctx, orgID)
	if err != nil {
		return nil, m.fail(err)
	}
	out := Policies{IdleDisable: p.IdleDisable, LeakPolicy: leak, KeysBeyondMaxLifetime: []PolicyKey{}}
	if p.MaxLifetimeDays > 0 {
		out.MaxKeyLifetimeDays = &p.MaxLifetimeDays
	}
	if p.IdleDays > 0 {
		out.IdleDays = &p.IdleDays
	}
	beyond, err := m.keys.BeyondLifetime(ctx, orgID, p.MaxLifetimeDays)
	if err != nil {
		return nil, m.fail(err)
	}
	for _, k := range beyond {
		out.KeysBeyondMaxLifetime = append(out.KeysBeyondMaxLifetime, PolicyKey{ID: k.ID, Description: k.Description, Hint: k.Hint, ExpiresAt: utc(k.ExpiresAt)})
	}
	return &policiesOutput{Body: out}, nil
}

var (
	exampleDays     = 90
	examplePolicies = Policies{
		MaxKeyLifetimeDays: &exampleDays, IdleDays: &exampleDays, LeakPolicy: "notify",
		KeysBeyondMaxLifetime: []PolicyKey{{ID: exampleKey.ID, Description: exampleKey.Description, Hint: exampleKey.Hint}},
	}
)

func policiesOp(op huma.Operation, request, response any) huma.Operation {
	op = documented(op, request, response)
	op.Tags = []string{"Policies"}
	return op
}

// GetPoliciesOp is GET /v1/policies.
func GetPoliciesOp() huma.Operation {
	return policiesOp(huma.Operation{
		OperationID: "get-policies", Method: http.MethodGet, Path: "/policies", Summary: "Get the key policies",
		Description: "The organization's maximum key lifetime, idle period and idle disable option, its leak policy, and the working keys that outlive the maximum lifetime.",
	}, nil, examplePolicies)
}

// UpdatePoliciesOp is PATCH /v1/policies.
func UpdatePoliciesOp() huma.Operation {
	return policiesOp(huma.Operation{
		OperationID: "update-policies", Method: http.MethodPatch, Path: "/policies", Summary: "Change the key policies",
		Description: "Changes the maximum key lifetime and the idle period (days, 1 to 3650; null turns either off) and the idle disable option. An absent property keeps its value. No existing key changes: keys_beyond_max_lifetime lists those a new maximum lifetime contradicts. Recorded in the audit log.",
		Errors:      []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, PolicyChanges{MaxKeyLifetimeDays: &exampleDays}, examplePolicies)
}
