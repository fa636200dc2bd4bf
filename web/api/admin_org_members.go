package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/org"
)

// AdminMemberPath names one member of one organization.
type AdminMemberPath struct {
	Slug string `path:"slug" doc:"The organization's slug."`
	ID   string `path:"id" doc:"The member's user id."`
}

// AdminRoleInput changes a member's role in an organization.
type AdminRoleInput struct {
	AdminMemberPath
	Body RoleBody
}

// ChangeOrgMemberRole is PATCH /api/v1/admin/orgs/{slug}/members/{id}: 200
// with the member. The last admin cannot be made a member (409).
func (m *Management) ChangeOrgMemberRole(ctx context.Context, in *AdminRoleInput) (*memberOutput, error) {
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	row, err := m.orgs.ChangeRole(ctx, o.ID, in.ID, org.Role(in.Body.Role), credentialOf(ctx).actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &memberOutput{Body: memberJSON(row)}, nil
}

// RemoveOrgMember is DELETE /api/v1/admin/orgs/{slug}/members/{id}: 200
// with the member as they were. The last admin cannot be removed (409).
func (m *Management) RemoveOrgMember(ctx context.Context, in *AdminMemberPath) (*memberOutput, error) {
	o, err := m.orgs.BySlug(ctx, in.Slug)
	if err != nil {
		return nil, m.fail(err)
	}
	row, err := m.orgs.RemoveMember(ctx, o.ID, in.ID, credentialOf(ctx).actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &memberOutput{Body: memberJSON(row)}, nil
}

// ChangeOrgMemberRoleOp is PATCH /v1/admin/orgs/{slug}/members/{id}: the
// org API's operation on any organization.
func ChangeOrgMemberRoleOp() huma.Operation {
	return asAdminOp(ChangeMemberRoleOp(), "admin-change-member-role", RoleBody{Role: "admin"})
}

// RemoveOrgMemberOp is DELETE /v1/admin/orgs/{slug}/members/{id}.
func RemoveOrgMemberOp() huma.Operation {
	return asAdminOp(RemoveMemberOp(), "admin-remove-member", nil)
}

// asAdminOp is the org API's members operation op under
// /orgs/{slug}/members/{id} of the operator API, as operation id.
func asAdminOp(op huma.Operation, id string, request any) huma.Operation {
	errs := append([]int{http.StatusNotFound}, op.Errors...)
	slices.Sort(errs)
	return orgsOp(huma.Operation{
		OperationID: id, Method: op.Method, Path: "/orgs/{slug}" + op.Path, Summary: op.Summary,
		Description: op.Description, Errors: slices.Compact(errs),
	}, request, exampleMember)
}
