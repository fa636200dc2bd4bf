package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/offboard"
	"keyplane/internal/org"
)

// Member is a person in the organization, as the members page lists them.
// Members are users; API keys are not members.
type Member struct {
	ID          string     `json:"id" format:"uuid" doc:"The user's id."`
	Email       string     `json:"email" example:"ada@example.com"`
	Name        string     `json:"name" example:"Ada Lovelace"`
	Role        string     `json:"role" enum:"admin,member"`
	JoinedAt    time.Time  `json:"joined_at"`
	LastLoginAt *time.Time `json:"last_login_at" nullable:"true"`
}

// MemberList is every member of the organization, admins first, then by
// email.
type MemberList struct {
	Data []Member `json:"data" nullable:"false"`
}

// InviteBody invites a person by email.
type InviteBody struct {
	Email string `json:"email" maxLength:"254" example:"grace@example.com"`
	Role  string `json:"role" enum:"admin,member" example:"member"`
}

// CreatedInvite is the link of a new invitation, answered once.
type CreatedInvite struct {
	URL       string    `json:"url" example:"https://keys.example.com/invites/Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgcmVhbCB0b2tlbg" doc:"The invitation link: a secret, shown once. Send it to the invited person; it works once, for 7 days."`
	ExpiresAt time.Time `json:"expires_at"`
}

// RoleBody is a member's new role.
type RoleBody struct {
	Role string `json:"role" enum:"admin,member" example:"admin"`
}

type memberOutput struct {
	Body Member
}

type memberListOutput struct {
	Body MemberList
}

type inviteOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         CreatedInvite
}

// MemberInput names one member of the caller's organization.
type MemberInput struct {
	ID string `path:"id" doc:"The member's user id."`
}

// InviteInput is an invitation.
type InviteInput struct {
	Body InviteBody
}

// ChangeRoleInput changes a member's role.
type ChangeRoleInput struct {
	ID   string `path:"id" doc:"The member's user id."`
	Body RoleBody
}

func memberJSON(r org.MemberRow) Member {
	return Member{
		ID: r.UserID, Email: r.Email, Name: r.Name, Role: string(r.Role),
		JoinedAt: r.JoinedAt.UTC(), LastLoginAt: utc(r.LastLoginAt),
	}
}

// ListMembers is GET /api/v1/members: every member of the organization.
func (m *Management) ListMembers(ctx context.Context, _ *struct{}) (*memberListOutput, error) {
	rows, err := m.orgs.Members(ctx, credentialOf(ctx).key.OrgID)
	if err != nil {
		return nil, m.fail(err)
	}
	out := MemberList{Data: make([]Member, 0, len(rows))}
	for _, r := range rows {
		out.Data = append(out.Data, memberJSON(r))
	}
	return &memberListOutput{Body: out}, nil
}

// InviteMember is POST /api/v1/members: 201 with the invitation's link,
// shown once and never logged. An existing member is 409.
func (m *Management) InviteMember(ctx context.Context, in *InviteInput) (*inviteOutput, error) {
	cred := credentialOf(ctx)
	token, inv, err := m.orgs.CreateInvite(ctx, cred.key.OrgID, in.Body.Email, org.Role(in.Body.Role), cred.actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &inviteOutput{CacheControl: "no-store", Body: CreatedInvite{
		URL: m.baseURL + "/invites/" + token, ExpiresAt: inv.ExpiresAt.UTC(),
	}}, nil
}

// ChangeMemberRole is PATCH /api/v1/members/{id}: 200 with the member. The
// last admin cannot be made a member (409).
func (m *Management) ChangeMemberRole(ctx context.Context, in *ChangeRoleInput) (*memberOutput, error) {
	cred := credentialOf(ctx)
	row, err := m.orgs.ChangeRole(ctx, cred.key.OrgID, in.ID, org.Role(in.Body.Role), cred.actor)
	if err != nil {
		return nil, m.fail(err)
	}
	return &memberOutput{Body: memberJSON(row)}, nil
}

// RemoveMemberInput removes one member of the caller's organization and,
// when asked, rotates the keys they were shown.
type RemoveMemberInput struct {
	ID         string `path:"id" doc:"The member's user id."`
	RotateKeys bool   `query:"rotate_keys" doc:"Also rotate, in the same request, every key the member created or rotated that still works (they saw its secret). The new keys are answered once, in rotated_keys."`
	Grace      string `query:"grace" enum:"0,1h,24h,7d,168h" doc:"With rotate_keys: how long each old key keeps working (default 24h)."`
}

// RemovedMember is a member as they were when removed, and the keys
// rotated with the removal.
type RemovedMember struct {
	Member
	RotatedKeys []CreatedKey `json:"rotated_keys,omitempty" doc:"With rotate_keys: the new keys, each with its secret, shown once (Cache-Control: no-store)."`
	NotRotated  []NotRotated `json:"not_rotated,omitempty" doc:"With rotate_keys: the keys that could not be rotated, and why. The member is removed all the same."`
}

// NotRotated is a key a removal could not rotate.
type NotRotated struct {
	ID     string `json:"id" format:"uuid"`
	Hint   string `json:"hint"`
	Reason string `json:"reason"`
}

type removedMemberOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         RemovedMember
}

// RemoveMember is DELETE /api/v1/members/{id}: 200 with the member as they
// were. The last admin cannot be removed (409). With rotate_keys=true the
// keys the member created or rotated are rotated in the same request and
// answered with their secrets.
func (m *Management) RemoveMember(ctx context.Context, in *RemoveMemberInput) (*removedMemberOutput, error) {
	cred := credentialOf(ctx)
	var req offboard.Request
	if in.RotateKeys {
		req.Grace = in.Grace
		switch req.Grace {
		case "":
			req.Grace = "24h"
		case "7d":
			req.Grace = "168h"
		}
		seen, err := m.keys.SeenBy(ctx, cred.key.OrgID, in.ID)
		if err != nil {
			return nil, m.fail(err)
		}
		req.Rotate = []string{}
		for _, k := range seen {
			req.Rotate = append(req.Rotate, k.ID)
		}
	}
	res, err := offboard.New(m.orgs, m.keys).Remove(ctx, cred.key.OrgID, in.ID, req, cred.actor)
	if err != nil {
		return nil, m.fail(err)
	}
	out := &removedMemberOutput{CacheControl: "no-store", Body: RemovedMember{Member: memberJSON(res.Member)}}
	for _, r := range res.Rotated {
		k, err := m.present(ctx, r.New.Key)
		if err != nil {
			k = keyJSON(r.New.Key, m.now(), 0, nil) // the member is gone: answer the secrets whatever
		}
		out.Body.RotatedKeys = append(out.Body.RotatedKeys, CreatedKey{Key: k, Secret: r.New.Secret})
	}
	for _, f := range res.Failed {
		out.Body.NotRotated = append(out.Body.NotRotated, NotRotated{ID: f.ID, Hint: f.Hint, Reason: f.Reason})
	}
	return out, nil
}

var exampleMember = Member{
	ID: "01960a7c-2b1d-7e3f-8a9b-0c1d2e3f4a5b", Email: "ada@example.com", Name: "Ada Lovelace", Role: "admin",
	JoinedAt: exampleTime, LastLoginAt: &exampleRevoked,
}

func membersOp(op huma.Operation, request, response any) huma.Operation {
	op = documented(op, request, response)
	op.Tags = []string{"Members"}
	return op
}

// ListMembersOp is GET /v1/members.
func ListMembersOp() huma.Operation {
	return membersOp(huma.Operation{
		OperationID: "list-members", Method: http.MethodGet, Path: "/members", Summary: "List members",
		Description: "Every member of the organization (people, not keys), admins first, then by email, in one page.",
	}, nil, MemberList{Data: []Member{exampleMember}})
}

// InviteMemberOp is POST /v1/members.
func InviteMemberOp() huma.Operation {
	return membersOp(huma.Operation{
		OperationID: "invite-member", Method: http.MethodPost, Path: "/members", Summary: "Invite a member",
		Description:   "Invites an email address with a role and answers the invitation link, once (Cache-Control: no-store); it works once, for 7 days. Someone already a member is 409.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, InviteBody{Email: "grace@example.com", Role: "member"}, CreatedInvite{
		URL:       "https://keys.example.com/invites/Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgcmVhbCB0b2tlbg",
		ExpiresAt: exampleTime.Add(org.InviteTTL),
	})
}

// ChangeMemberRoleOp is PATCH /v1/members/{id}.
func ChangeMemberRoleOp() huma.Operation {
	return membersOp(huma.Operation{
		OperationID: "change-member-role", Method: http.MethodPatch, Path: "/members/{id}", Summary: "Change a member's role",
		Description: "Makes a member an admin or a member. The organization's last admin cannot be made a member (409).",
		Errors:      []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, RoleBody{Role: "admin"}, exampleMember)
}

// OrgRemoveMemberOp is DELETE /v1/members/{id} of the org API, which can
// also rotate the keys the member was shown.
func OrgRemoveMemberOp() huma.Operation {
	op := RemoveMemberOp()
	op.Description += " With `rotate_keys=true` (and `grace`, default 24h) it also rotates every key the member created or rotated that still works, and answers the new keys once in `rotated_keys` (and in `not_rotated` those that could not be, with why: the member is removed all the same)."
	return op
}

// RemoveMemberOp is DELETE /v1/members/{id}.
func RemoveMemberOp() huma.Operation {
	return membersOp(huma.Operation{
		OperationID: "remove-member", Method: http.MethodDelete, Path: "/members/{id}", Summary: "Remove a member",
		Description: "Takes a member out of the organization; their access ends with their next request. Answers the member as they were. The organization's last admin cannot be removed (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, nil, exampleMember)
}
