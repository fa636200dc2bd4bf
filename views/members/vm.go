// Package members holds the screens of an organization's members and
// invitations.
package members

import (
	"strconv"
	"strings"
)

// ListURL is the members page of the organization slug.
func ListURL(slug string) string { return "/orgs/" + slug + "/members" }

// MemberURL is the base of the actions on the member userID.
func MemberURL(slug, userID string) string { return ListURL(slug) + "/" + userID }

// InvitesURL is where admins post new invitations.
func InvitesURL(slug string) string { return "/orgs/" + slug + "/invites" }

// IDs of the members page that htmx swaps; handlers use the same
// constants.
const (
	// ListID is the members table with its counts: a role change or a
	// removal swaps it out of band.
	ListID = "members-list"
)

// ListPage is the members page.
type ListPage struct {
	Slug      string
	OrgName   string
	CSRFToken string
	IsAdmin   bool
	Rows      []Row
	Invites   []InviteRow
	Invite    InviteForm
	// Error is a refused change (the last admin stays an admin), shown as
	// an error above the list.
	Error string
}

// Admins is how many of the rows are admins.
func (vm ListPage) Admins() int {
	n := 0
	for _, r := range vm.Rows {
		if r.Role == "admin" {
			n++
		}
	}
	return n
}

// CanManage reports whether the viewer may change r's role or remove
// them: admins may, except on their own row.
func (vm ListPage) CanManage(r Row) bool { return vm.IsAdmin && !r.IsYou }

// Row is one member.
type Row struct {
	UserID       string
	Name         string
	Email        string
	Role         string
	Joined       string
	JoinedISO    string
	LastLogin    string
	LastLoginISO string
	IsYou        bool
}

// InviteRow is a pending invitation.
type InviteRow struct {
	ID        string
	Email     string
	Role      string
	InvitedBy string
	Expires   string
}

// InviteForm is the invite form's values and messages.
type InviteForm struct {
	Email  string
	Role   string
	Error  string
	Errors map[string]string
}

// Confirm is the remove confirmation.
type Confirm struct {
	Slug      string
	OrgName   string
	CSRFToken string
	UserID    string
	Name      string
	Email     string
	Role      string
	// Error is why the removal was refused.
	Error string
	// Self is set when the admin removes themselves: nothing is rotated
	// (the new keys could be shown to no one left in the organization).
	Self bool
	// Keys are the keys the member was shown, which can still be rotated
	// (offboarding); each offered to rotate in the same step.
	Keys []KeyChoice
	// Grace is the grace period chosen for those rotations ("24h" unless
	// the form said otherwise); FormToken makes the form single-use.
	Grace     string
	FormToken string
}

// KeyChoice is a key offered for rotation when its creator is removed.
type KeyChoice struct {
	ID          string
	Hint        string
	Description string
	// LastUsed is its last use in words ("3 minutes ago", "never").
	LastUsed string
	Checked  bool
}

// Offboard grace choices: when the old keys stop working.
var GraceOptions = []GraceOption{
	{Value: "0", Label: "Now"},
	{Value: "1h", Label: "In 1 hour"},
	{Value: "24h", Label: "In 24 hours"},
	{Value: "168h", Label: "In 7 days"},
}

// GraceOption is one choice of grace period.
type GraceOption struct {
	Value string
	Label string
}

// DefaultGrace is the grace period the remove dialog proposes.
const DefaultGrace = "24h"

// Offboarded is the page after a removal that rotated keys: the new keys,
// each shown once, and the keys that could not be rotated, with why.
type Offboarded struct {
	Slug    string
	OrgName string
	Email   string
	Rotated []RotatedKey
	Failed  []FailedKey
}

// RotatedKey is a key rotated while removing a member.
type RotatedKey struct {
	// InputID is the id of the field holding the secret, for its copy
	// and download buttons.
	InputID     string
	Description string
	Hint        string
	Secret      string
	// EnvName is the variable its .env line sets.
	EnvName string
	KeyURL  string
	OldHint string
	// OldDeadline says when the old key stops ("keeps working until …").
	OldDeadline string
}

// FailedKey is a key that was to be rotated and was not.
type FailedKey struct {
	Hint        string
	Description string
	Reason      string
}

// EnvID is the field holding every new key as .env lines.
const EnvID = "offboard-env"

// Env is every new key as .env lines, one per key.
func (o Offboarded) Env() string {
	var b strings.Builder
	for _, r := range o.Rotated {
		b.WriteString(r.EnvName + "=" + r.Secret + "\n")
	}
	return b.String()
}

// Who is the member as a confirmation names them: their name, else their
// email.
func (c Confirm) Who() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Email
}

// InviteReveal is the one page that shows an invitation link.
type InviteReveal struct {
	Slug  string
	Email string
	Role  string
	Link  string
}

// Accept is the page behind an invitation link.
type Accept struct {
	Action    string
	CSRFToken string
	OrgName   string
	Email     string
	Role      string
	// Mode is "signup" (set name and password), "join" (one button) or
	// "mismatch" (sign in as the invited email).
	Mode   string
	Name   string
	Error  string
	Errors map[string]string
	// SSOName is the identity provider's name when single sign-on is on:
	// a new account can then accept with it, at SSOURL. "" when off.
	SSOName string
	SSOURL  string
	// NoPasswordSignup hides the sign-up form's password: password
	// sign-in is not for new members (KEYPLANE_PASSWORD_LOGIN).
	NoPasswordSignup bool
}

// Counts says how many members and admins the list holds: "3 members, 1
// admin".
func (vm ListPage) Counts() string {
	return plural(len(vm.Rows), "member") + ", " + plural(vm.Admins(), "admin")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
