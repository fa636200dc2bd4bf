package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/account"
)

// User is a person's account as the operator API answers it.
type User struct {
	ID          string     `json:"id" format:"uuid"`
	Email       string     `json:"email" example:"grace@example.com"`
	Name        string     `json:"name" example:"Grace Hopper"`
	Operator    bool       `json:"operator" doc:"An operator of this Keyplane."`
	HasPassword bool       `json:"has_password" doc:"False for users made by the operator API: they sign in through SSO or the portal."`
	DisabledAt  *time.Time `json:"disabled_at" nullable:"true"`
	LastLoginAt *time.Time `json:"last_login_at" nullable:"true"`
	CreatedAt   time.Time  `json:"created_at"`
}

// UserBody creates a user without a password.
type UserBody struct {
	Email string `json:"email" maxLength:"254" example:"grace@example.com"`
	Name  string `json:"name" maxLength:"100" example:"Grace Hopper"`
}

type userOutput struct {
	Body User
}

// UserInput creates a user.
type UserInput struct {
	Body UserBody
}

// UserIDInput names one user.
type UserIDInput struct {
	ID string `path:"id" doc:"The user's id."`
}

func userJSON(u account.User) User {
	return User{
		ID: u.ID, Email: u.Email, Name: u.Name, Operator: u.IsOperator, HasPassword: u.PasswordHash != "",
		DisabledAt: utc(u.DisabledAt), LastLoginAt: utc(u.LastLoginAt), CreatedAt: u.CreatedAt.UTC(),
	}
}

// CreateUser is POST /api/v1/admin/users: 201 with a user who has no
// password. A taken email is 409.
func (m *Management) CreateUser(ctx context.Context, in *UserInput) (*userOutput, error) {
	u, err := m.accounts.CreateUser(ctx, account.NewUser{Email: in.Body.Email, Name: in.Body.Name, NoPassword: true})
	if err != nil {
		return nil, m.fail(err)
	}
	m.logger.Info("operator API created a user", "user_id", u.ID, "token", credentialOf(ctx).actor.TokenName)
	return &userOutput{Body: userJSON(u)}, nil
}

// DisableUser is POST /api/v1/admin/users/{id}/disable: 200 with the user;
// their sessions end at once. Disabling a disabled user changes nothing.
func (m *Management) DisableUser(ctx context.Context, in *UserIDInput) (*userOutput, error) {
	return m.setDisabled(ctx, in.ID, true)
}

// EnableUser is POST /api/v1/admin/users/{id}/enable: 200 with the user.
func (m *Management) EnableUser(ctx context.Context, in *UserIDInput) (*userOutput, error) {
	return m.setDisabled(ctx, in.ID, false)
}

func (m *Management) setDisabled(ctx context.Context, id string, disabled bool) (*userOutput, error) {
	if err := m.accounts.SetDisabled(ctx, id, disabled, credentialOf(ctx).actor); err != nil {
		return nil, m.fail(err)
	}
	u, err := m.accounts.UserByID(ctx, id)
	if err != nil {
		return nil, m.fail(err)
	}
	return &userOutput{Body: userJSON(u)}, nil
}

var exampleUser = User{
	ID: "01960a7d-3c4d-7e5f-9a0b-1c2d3e4f5a6b", Email: "grace@example.com", Name: "Grace Hopper", CreatedAt: exampleTime,
}

// CreateUserOp is POST /v1/admin/users.
func CreateUserOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-create-user", Method: http.MethodPost, Path: "/users", Summary: "Create a user",
		Description:   "Creates a user without a password, who signs in through SSO or the portal. A taken email is 409.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
	}, UserBody{Email: "grace@example.com", Name: "Grace Hopper"}, exampleUser)
}

// DisableUserOp is POST /v1/admin/users/{id}/disable.
func DisableUserOp() huma.Operation {
	disabled := exampleUser
	disabled.DisabledAt = &exampleRevoked
	return adminDocumented(huma.Operation{
		OperationID: "admin-disable-user", Method: http.MethodPost, Path: "/users/{id}/disable", Summary: "Disable a user",
		Description: "The user can no longer sign in, and every session of theirs ends at once. Each organization they belong to records it.",
		Errors:      []int{http.StatusNotFound},
	}, nil, disabled)
}

// EnableUserOp is POST /v1/admin/users/{id}/enable.
func EnableUserOp() huma.Operation {
	return adminDocumented(huma.Operation{
		OperationID: "admin-enable-user", Method: http.MethodPost, Path: "/users/{id}/enable", Summary: "Enable a user",
		Description: "A disabled user can sign in again.",
		Errors:      []int{http.StatusNotFound},
	}, nil, exampleUser)
}
