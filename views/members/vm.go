// Package members holds the screens of an organization's members and
// invitations.
package members

import "strconv"

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
