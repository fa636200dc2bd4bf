package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/org"
)

// Org is an organization as the operator API answers it.
type Org struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name" example:"Acme"`
	Slug      string    `json:"slug" example:"acme"`
	Members   int       `json:"members" doc:"How many people belong to it."`
	CreatedAt time.Time `json:"created_at"`
	// DisabledAt is set while the organization is disabled.
	DisabledAt *time.Time `json:"disabled_at" nullable:"true" doc:"Since when the organization is disabled (every key refused with key_disabled); null unless disabled."`
}

// OrgList is every organization, by name.
type OrgList struct {
	Data []Org `json:"data" nullable:"false"`
}

// OrgBody creates an organization; admin, when given, is the email of an
// existing user who becomes its first admin.
type OrgBody struct {
	Name  string `json:"name" maxLength:"100" example:"Acme"`
	Slug  string `json:"slug" maxLength:"40" example:"acme"`
	Admin string `json:"admin,omitempty" maxLength:"254" example:"ada@example.com" doc:"The email of an existing user, made the organization's first admin."`
}

type orgOutput struct {
	Body Org
}

type orgListOutput struct {
	Body OrgList
}

// OrgInput creates an organization.
type OrgInput struct {
	Body OrgBody
}

// SlugInput names one organization.
type SlugInput struct {
	Slug string `path:"slug" doc:"The organization's slug."`
}

// AdminMemberInput adds an existing user to an organization.
type AdminMemberInput struct {
	Slug string `path:"slug" doc:"The organization's slug."`
	Body InviteBody
}

var exampleOrg = Org{ID: "01960a7b-0c1d-7e3f-8a9b-1c2d3e4f5a6b", Name: "Acme", Slug: "acme", Members: 3, CreatedAt: exampleTime}

func (m *Management) orgJSON(ctx context.Context, o org.Organization) (Org, error) {
	rows, err := m.orgs.Members(ctx, o.ID)
	if err != nil {
		return Org{}, err
	}
	return Org{ID: o.ID, Name: o.Name, Slug: o.Slug, Members: len(rows), CreatedAt: o.CreatedAt.UTC(), DisabledAt: utc(o.DisabledAt)}, nil
}

// ListOrgs is GET /api/v1/admin/orgs: every organization.
func (m *Management) ListOrgs(ctx context.Context, _ *struct{}) (*orgListOutput, error) {
	list, err := m.orgs.List(ctx)
	if err != nil {
		return nil, m.fail(err)
	}
	out := OrgList{Data: make([]Org, 0, len(list))}
	for _, o := range list {
		out.Data = append(out.Data, Org{ID: o.ID, Name: o.Name, Slug: o.Slug, Members: o.Members, CreatedAt: o.CreatedAt.UTC(), DisabledAt: utc(o.DisabledAt)})
	}
	return &orgListOutput{Body: out}, nil
}

// CreateOrg is POST /api/v1/admin/orgs: 201 with the organization. An
// unknown admin email is 422 (field admin), a taken slug 409.
func (m *Management) CreateOrg(ctx context.Context, in *OrgInput) (*orgOutput, error) {
	actor := credentialOf(ctx).actor
	var o org.Organization
	var err error
	if in.Body.Admin == "" {
		o, err = m.orgs.CreateWithoutMembers(ctx, in.Body.Name, in.Body.Slug, actor)
	} else {
		var u account.User
		u, err = m.accounts.UserByEmail(ctx, in.Body.Admin)
		if apperr.Is(err, apperr.NotFound) {
			return nil, m.fail(apperr.InvalidFields(map[string]string{"admin": "No user has this email; create the user first."}))
		}
		if err != nil {
			return nil, m.fail(err)
		}
		o, err = m.orgs.Create(ctx, in.Body.Name, in.Body.Slug, u.ID, actor)
	}
	if err != nil {
		return nil, m.fail(err)
	}
	out, err := m.orgJSON(ctx, o)
	if err != nil {
		return nil, m.fail(err)
	}
	return &orgOutput{Body: out}, nil
}

// GetOrg is GET /api/v1/admin/orgs/{slug}.
func (m *Management) GetOrg(ctx context.Context, in *SlugInput) (*orgOutput, error) {
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	out, err := m.orgJSON(ctx, o)
	if err != nil {
		return nil, m.fail(err)
	}
	return &orgOutput{Body: out}, nil
}

// DisableOrg is POST /api/v1/admin/orgs/{slug}/disable: 200 with the
// organization; every one of its keys is refused with key_disabled within
// a second everywhere. Already disabled is 409.
func (m *Management) DisableOrg(ctx context.Context, in *SlugInput) (*orgOutput, error) {
	return m.setOrgDisabled(ctx, in.Slug, true)
}

// EnableOrg is POST /api/v1/admin/orgs/{slug}/enable: 200 with the
// organization, whose keys work again as they did. Not disabled is 409.
func (m *Management) EnableOrg(ctx context.Context, in *SlugInput) (*orgOutput, error) {
	return m.setOrgDisabled(ctx, in.Slug, false)
}

func (m *Management) setOrgDisabled(ctx context.Context, slug string, disabled bool) (*orgOutput, error) {
	o, err := m.orgs.BySlug(ctx, slug)
	if err != nil {
		return nil, m.fail(err)
	}
	if err := m.keys.SetOrgDisabled(ctx, o.ID, disabled, credentialOf(ctx).actor); err != nil {
		return nil, m.fail(err)
	}
	return m.GetOrg(ctx, &SlugInput{Slug: slug})
}

// AddOrgMember is POST /api/v1/admin/orgs/{slug}/members: 201 with the
// member. An email of no user is 422 (field email); a member already, 409.
func (m *Management) AddOrgMember(ctx context.Context, in *AdminMemberInput) (*memberOutput, error) {
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	u, err := m.accounts.UserByEmail(ctx, in.Body.Email)
	if apperr.Is(err, apperr.NotFound) {
		return nil, m.fail(apperr.InvalidFields(map[string]string{"email": "No user has this email; create the user or send an invite."}))
	}
	if err != nil {
		return nil, m.fail(err)
	}
	if err := m.orgs.AddMember(ctx, o.ID, u.ID, org.Role(in.Body.Role), credentialOf(ctx).actor); err != nil {
		if f := apperr.FieldsOf(err); f["user_id"] != "" {
			err = &apperr.Error{Code: apperr.CodeOf(err), Message: apperr.MessageOf(err), Fields: map[string]string{"email": f["user_id"]}}
		}
		return nil, m.fail(err)
	}
	row, err := m.orgs.Member(ctx, o.ID, u.ID)
	if err != nil {
		return nil, m.fail(err)
	}
	return &memberOutput{Body: memberJSON(row)}, nil
}

// InviteOrgMember is POST /api/v1/admin/orgs/{slug}/invites: 201 with the
// invitation's link, shown once and never logged.
func (m *Management) InviteOrgMember(ctx context.Context, in *AdminMemberInput) (*inviteOutput, error) {
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	token, inv, err := m.orgs.CreateInvite(ctx, o.ID, in.Body.Email, org.Role(in.Body.Role), credentialOf(ctx).actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &inviteOutput{CacheControl: "no-store", Body: CreatedInvite{
		URL: m.baseURL + "/invites/" + token, ExpiresAt: inv.ExpiresAt.UTC(),
	}}, nil
}

func orgsOp(op huma.Operation, request, response any) huma.Operation {
	return adminDocumented(op, request, response)
}

// ListOrgsOp is GET /v1/admin/orgs.
func ListOrgsOp() huma.Operation {
	return orgsOp(huma.Operation{
		OperationID: "admin-list-orgs", Method: http.MethodGet, Path: "/orgs", Summary: "List organizations",
		Description: "Every organization of this Keyplane, by name, with its member count, in one page.",
	}, nil, OrgList{Data: []Org{exampleOrg}})
}

// CreateOrgOp is POST /v1/admin/orgs.
func CreateOrgOp() huma.Operation {
	created := exampleOrg
	created.Members = 1
	return orgsOp(huma.Operation{
		OperationID: "admin-create-org", Method: http.MethodPost, Path: "/orgs", Summary: "Create an organization",
		Description:   "Creates an organization; with admin (the email of an existing user), that user is its first admin. A taken slug is 409; an unknown admin 422.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, OrgBody{Name: "Acme", Slug: "acme", Admin: "ada@example.com"}, created)
}

// GetOrgOp is GET /v1/admin/orgs/{slug}.
func GetOrgOp() huma.Operation {
	return orgsOp(huma.Operation{
		OperationID: "admin-get-org", Method: http.MethodGet, Path: "/orgs/{slug}", Summary: "Get an organization",
		Errors: []int{http.StatusNotFound},
	}, nil, exampleOrg)
}

// DisableOrgOp is POST /v1/admin/orgs/{slug}/disable.
func DisableOrgOp() huma.Operation {
	disabled := exampleOrg
	disabled.DisabledAt = &exampleRevoked
	return orgsOp(huma.Operation{
		OperationID: "admin-disable-org", Method: http.MethodPost, Path: "/orgs/{slug}/disable", Summary: "Disable an organization",
		Description: "Every key of the organization is refused with key_disabled within a second everywhere, until it is enabled; the keys keep their own state. Its members can still sign in and see it. Already disabled is 409.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, disabled)
}

// EnableOrgOp is POST /v1/admin/orgs/{slug}/enable.
func EnableOrgOp() huma.Operation {
	return orgsOp(huma.Operation{
		OperationID: "admin-enable-org", Method: http.MethodPost, Path: "/orgs/{slug}/enable", Summary: "Enable an organization",
		Description: "Its keys work again as they did before it was disabled. Not disabled is 409.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, exampleOrg)
}

// AddOrgMemberOp is POST /v1/admin/orgs/{slug}/members.
func AddOrgMemberOp() huma.Operation {
	member := exampleMember
	member.Role, member.Email, member.Name = "member", "grace@example.com", "Grace Hopper"
	return orgsOp(huma.Operation{
		OperationID: "admin-add-member", Method: http.MethodPost, Path: "/orgs/{slug}/members", Summary: "Add an existing user",
		Description:   "Adds an existing user, by email, to the organization with a role. No user with the email is 422 (send an invite instead); a member already, 409.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, InviteBody{Email: "grace@example.com", Role: "member"}, member)
}

// InviteOrgMemberOp is POST /v1/admin/orgs/{slug}/invites.
func InviteOrgMemberOp() huma.Operation {
	return orgsOp(huma.Operation{
		OperationID: "admin-invite-member", Method: http.MethodPost, Path: "/orgs/{slug}/invites", Summary: "Invite by email",
		Description:   "Invites an email address to the organization with a role and answers the invitation link, once (Cache-Control: no-store); it works once, for 7 days. Someone already a member is 409.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, InviteBody{Email: "grace@example.com", Role: "member"}, CreatedInvite{
		URL:       "https://keys.example.com/invites/Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgcmVhbCB0b2tlbg",
		ExpiresAt: exampleTime.Add(org.InviteTTL),
	})
}
