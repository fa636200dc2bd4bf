// Package setup is an instance's first run: while no user exists, whoever
// holds the setup token creates the operator and the first organization.
//
// It stands apart from account and org because it spans both and belongs to
// neither: it is about the instance, holds its setup token, and is done
// once.
package setup

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
)

// Accounts are the users setup checks for and creates; *account.Service is
// one.
type Accounts interface {
	HasUsers(ctx context.Context) (bool, error)
	CreateUser(ctx context.Context, in account.NewUser) (account.User, error)
}

// Orgs create the first organization; *org.Service is one.
type Orgs interface {
	Create(ctx context.Context, name, slug, adminUserID string, actor audit.Actor) (org.Organization, error)
}

// Input is the setup form.
type Input struct {
	// Token must equal the instance's setup token.
	Token    string
	Name     string
	Email    string
	Password string
	OrgName  string
	OrgSlug  string
}

// Done is what a setup made.
type Done struct {
	Operator account.User
	Org      org.Organization
}

// ErrDone is the NotFound a setup gets once the instance has a user: setup
// is gone for good.
var ErrDone = apperr.New(apperr.NotFound, "Keyplane is already set up. Sign in instead.")

// Service runs the first-run setup.
type Service struct {
	db       *store.DB
	accounts Accounts
	orgs     Orgs
	token    string
	// mu makes this process's setups one at a time, so a second waits for
	// the first and then finds it done.
	mu sync.Mutex
}

// New returns a Service whose setups need token; with an empty token every
// setup is refused.
func New(db *store.DB, accounts Accounts, orgs Orgs, token string) *Service {
	return &Service{db: db, accounts: accounts, orgs: orgs, token: token}
}

// check returns a message per field of in that is wrong, the token
// included, or nil.
func (s *Service) check(in Input) map[string]string {
	fields := map[string]string{}
	if s.token == "" || subtle.ConstantTimeCompare([]byte(in.Token), []byte(s.token)) != 1 {
		fields["token"] = "This is not the setup token. Find it in the server's log."
	}
	if msg := account.ValidateName(strings.TrimSpace(in.Name)); msg != "" {
		fields["name"] = msg
	}
	if msg := account.ValidateEmail(account.NormalizeEmail(in.Email)); msg != "" {
		fields["email"] = msg
	}
	if err := account.ValidatePassword(in.Password); err != nil {
		fields["password"] = apperr.FieldsOf(err)["password"]
	}
	if msg := org.ValidateOrgName(strings.TrimSpace(in.OrgName)); msg != "" {
		fields["org_name"] = msg
	}
	if msg := org.ValidateSlug(strings.TrimSpace(in.OrgSlug)); msg != "" {
		fields["org_slug"] = msg
	}
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// Run creates the operator, the first organization with the operator as its
// admin, and their audit events, in one transaction: all of it or nothing.
// client is where the request came from; the new operator is the actor.
// Returns Invalid with a message per wrong field ("token", "name", "email",
// "password", "org_name", "org_slug") and ErrDone once a user exists; on
// PostgreSQL a transaction lock keeps two replicas from both setting up.
func (s *Service) Run(ctx context.Context, in Input, client audit.Actor) (Done, error) {
	if fields := s.check(in); fields != nil {
		return Done{}, apperr.InvalidFields(fields)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var d Done
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if s.db.Dialect == store.Postgres {
			if err := s.db.Conn(ctx).Exec("SELECT pg_advisory_xact_lock(hashtext('keyplane setup'))").Error; err != nil {
				return fmt.Errorf("setup: lock: %w", err)
			}
		}
		if done, err := s.accounts.HasUsers(ctx); err != nil {
			return err
		} else if done {
			return ErrDone
		}
		u, err := s.accounts.CreateUser(ctx, account.NewUser{Email: in.Email, Name: in.Name, Password: in.Password, Operator: true})
		if err != nil {
			return err
		}
		who := client
		who.UserID, who.Email = u.ID, u.Email
		o, err := s.orgs.Create(ctx, in.OrgName, in.OrgSlug, u.ID, who)
		if err != nil {
			return err
		}
		d = Done{Operator: u, Org: o}
		return nil
	})
	if err != nil {
		return Done{}, err
	}
	return d, nil
}
