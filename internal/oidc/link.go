package oidc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/store"
)

// Outcome says what a sign-in through the provider did.
type Outcome string

// The outcomes of Linker.SignIn.
const (
	// SignedIn: the identity was linked to the user before.
	SignedIn Outcome = "signed_in"
	// Linked: the first SSO sign-in of an existing user, linked by their
	// verified email.
	Linked Outcome = "linked"
	// JoinedByInvite: a new user, created for the pending invitations of
	// their verified email, which are now accepted and used up.
	JoinedByInvite Outcome = "joined_by_invite"
	// AutoJoined: a new user of an allowed domain, created and placed in
	// the auto-join organization.
	AutoJoined Outcome = "auto_joined"
)

// Result is a sign-in Linker.SignIn accepted.
type Result struct {
	User    account.User
	Outcome Outcome
	// Joined are the organizations the user joined in this sign-in
	// (JoinedByInvite, AutoJoined), in the order joined.
	Joined []org.Organization
}

// LoginSummary is the summary of the login.succeeded audit event that the
// caller records for r in each of the user's organizations.
func (r Result) LoginSummary(provider string) string {
	s := fmt.Sprintf("%s signed in with %s (single sign-on)", r.User.Email, provider)
	switch r.Outcome {
	case Linked:
		s += ", linking their " + provider + " account by its verified email"
	case JoinedByInvite:
		s += ", accepting an invitation"
	case AutoJoined:
		s += ", joining through the allowed email domain"
	}
	return s
}

// Linker finds, links or creates the Keyplane user of an identity the
// provider vouched for. Users and identities go through the account
// service; invitations and memberships through the organization service,
// which records their audit events.
type Linker struct {
	db       *store.DB
	accounts *account.Service
	orgs     *org.Service
	cfg      config.OIDC
}

// NewLinker returns a Linker applying cfg's auto-join. Invitations expire
// by orgs' clock.
func NewLinker(db *store.DB, accounts *account.Service, orgs *org.Service, cfg config.OIDC) *Linker {
	if cfg.Name == "" {
		cfg.Name = "SSO"
	}
	return &Linker{db: db, accounts: accounts, orgs: orgs, cfg: cfg}
}

// SignIn returns the user id signs in as, following these rules:
//   - an identity linked before, by (issuer, sub), signs its user in,
//     whatever its email says now;
//   - otherwise the email is used once, only when the provider says it is
//     verified: an existing user is linked (never an operator, and not a
//     user linked to another identity of this issuer already); an unknown
//     email with pending invitations gets a user without a password who
//     accepts them all (using them up, as their links would); an unknown
//     email of an allowed domain gets a user without a password placed in
//     the auto-join organization;
//   - a disabled user is refused, linked or not.
//
// client is where the request came from (IP, user agent); the new user is
// the actor of the events recorded for a join. Everything happens in one
// transaction: a refusal creates, links and uses up nothing. Refusals are
// Forbidden *apperr.Error values with a Reason (ReasonOf) and a message
// for the person; for a refused existing user (disabled, operator, linked
// elsewhere) Result.User is set, so the caller can record a failed login.
// The caller records login.succeeded (Result.LoginSummary) and starts the
// session.
func (l *Linker) SignIn(ctx context.Context, id Identity, client audit.Actor) (Result, error) {
	var res Result
	var err error
	// A concurrent first sign-in of the same identity or email makes one
	// of the two conflict; the second try then finds what the other made.
	for try := 0; try < 2; try++ {
		res = Result{}
		err = l.db.WithTx(ctx, func(ctx context.Context) error { return l.signIn(ctx, id, client, &res) })
		if !apperr.Is(err, apperr.Conflict) || ReasonOf(err) != "" {
			break
		}
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

func (l *Linker) signIn(ctx context.Context, id Identity, client audit.Actor, res *Result) error {
	ident, u, err := l.accounts.IdentityUser(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		res.User, res.Outcome = u, SignedIn
		if u.Disabled() {
			return l.disabled()
		}
		return l.accounts.RecordIdentityLogin(ctx, ident.ID)
	case !apperr.Is(err, apperr.NotFound):
		return err
	}

	email := account.NormalizeEmail(id.Email)
	if email == "" || account.ValidateEmail(email) != "" {
		return refuse(ReasonUnknownEmail, errors.New("the ID token has no usable email"),
			fmt.Sprintf("%s did not tell Keyplane your email address, so your account cannot be found. Ask your Keyplane operator.", l.cfg.Name))
	}
	if !id.EmailVerified {
		return refuse(ReasonEmailUnverified, fmt.Errorf("email_verified is not true for %s", email),
			fmt.Sprintf("%s has not verified your email address %s. Verify it there, then sign in again.", l.cfg.Name, email))
	}

	u, err = l.accounts.UserByEmail(ctx, email)
	switch {
	case err == nil:
		return l.linkExisting(ctx, id, u, res)
	case !apperr.Is(err, apperr.NotFound):
		return err
	}

	invites, err := l.orgs.PendingInvitesForEmail(ctx, email)
	if err != nil {
		return err
	}
	switch {
	case len(invites) > 0:
		return l.joinByInvites(ctx, id, email, client, res)
	case l.cfg.AutoJoin != nil && l.cfg.DomainAllowed(email):
		return l.autoJoin(ctx, id, email, client, res)
	}
	return refuse(ReasonUnknownEmail, fmt.Errorf("no user, invitation or auto-join for %s", email),
		fmt.Sprintf("No Keyplane account uses %s. Ask an admin of your organization for an invitation.", email))
}

func (l *Linker) disabled() error {
	return refuse(ReasonDisabled, nil, "This account has been disabled. Ask your Keyplane operator.")
}

// linkExisting links the identity to u, found by its verified email.
func (l *Linker) linkExisting(ctx context.Context, id Identity, u account.User, res *Result) error {
	res.User = u
	switch {
	case u.IsOperator:
		return refuse(ReasonOperator, fmt.Errorf("%s is an operator", u.Email),
			fmt.Sprintf("Operator accounts are not linked to %s by email. Sign in with your password.", l.cfg.Name))
	case u.Disabled():
		return l.disabled()
	}
	list, err := l.accounts.UserIdentities(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, other := range list {
		if other.Issuer == id.Issuer {
			return refuse(ReasonLinkedElsewhere, fmt.Errorf("%s is linked to another subject of this issuer", u.Email),
				fmt.Sprintf("Your Keyplane account is linked to another %s account. Sign in with that one, or ask your Keyplane operator.", l.cfg.Name))
		}
	}
	ident, err := l.accounts.LinkIdentity(ctx, u.ID, id.Issuer, id.Subject, u.Email)
	if err != nil {
		return err
	}
	res.Outcome = Linked
	return l.accounts.RecordIdentityLogin(ctx, ident.ID)
}

// newUser creates the user of a first sign-in, without a password, and
// links the identity to it.
func (l *Linker) newUser(ctx context.Context, id Identity, email string, res *Result) error {
	u, err := l.accounts.CreateUser(ctx, account.NewUser{Email: email, Name: displayName(id.Name, email), NoPassword: true})
	if err != nil {
		return err
	}
	ident, err := l.accounts.LinkIdentity(ctx, u.ID, id.Issuer, id.Subject, email)
	if err != nil {
		return err
	}
	if err := l.accounts.RecordIdentityLogin(ctx, ident.ID); err != nil {
		return err
	}
	res.User = u
	return nil
}

// displayName returns name made fit for a user's name, or the local part
// of email when nothing of it is left.
func displayName(name, email string) string {
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, strings.ToValidUTF8(s, ""))
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) > 100 {
			s = strings.TrimSpace(string([]rune(s)[:100]))
		}
		return s
	}
	if n := clean(name); n != "" {
		return n
	}
	local, _, _ := strings.Cut(email, "@")
	if n := clean(local); n != "" {
		return n
	}
	return email
}

// joinByInvites creates the user, who accepts every pending invitation of
// the email (org.Service.AcceptPendingInvites), as their links would.
func (l *Linker) joinByInvites(ctx context.Context, id Identity, email string, client audit.Actor, res *Result) error {
	if err := l.newUser(ctx, id, email, res); err != nil {
		return err
	}
	res.Outcome = JoinedByInvite
	joined, err := l.orgs.AcceptPendingInvites(ctx, res.User.ID, email, asUser(client, res.User))
	if err != nil {
		return err
	}
	if len(joined) == 0 { // every invitation was used meanwhile
		return apperr.New(apperr.Conflict, "Your invitation was used meanwhile. Sign in again.")
	}
	res.Joined = joined
	return nil
}

// autoJoin creates the user and places them in the auto-join organization.
func (l *Linker) autoJoin(ctx context.Context, id Identity, email string, client audit.Actor, res *Result) error {
	aj := l.cfg.AutoJoin
	role, ok := org.ParseRole(aj.Role)
	if !ok {
		return refuse(ReasonAutoJoin, fmt.Errorf("auto-join role %s is not a role", logSafe(aj.Role)), autoJoinBroken)
	}
	o, err := l.orgs.BySlug(ctx, aj.Slug)
	if apperr.Is(err, apperr.NotFound) {
		return refuse(ReasonAutoJoin, fmt.Errorf("the auto-join organization %q does not exist (KEYPLANE_OIDC_AUTO_JOIN)", aj.Slug), autoJoinBroken)
	}
	if err != nil {
		return err
	}
	if err := l.newUser(ctx, id, email, res); err != nil {
		return err
	}
	res.Outcome = AutoJoined
	joined, err := l.orgs.AutoJoin(ctx, o.ID, res.User.ID, role, asUser(client, res.User))
	if err != nil {
		return err
	}
	res.Joined = append(res.Joined, joined)
	return nil
}

const autoJoinBroken = "Keyplane cannot add you to your organization: its single sign-on settings name an organization that does not exist. Ask your Keyplane operator."

// asUser is client (where the request came from) acting as u.
func asUser(client audit.Actor, u account.User) audit.Actor {
	client.UserID, client.Email = u.ID, u.Email
	return client
}
