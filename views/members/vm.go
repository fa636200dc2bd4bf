// Package members holds the screens of an organization's members and
// invitations.
package members

// ListURL is the members page of the organization slug.
func ListURL(slug string) string { return "/orgs/" + slug + "/members" }

// MemberURL is the base of the actions on the member userID.
func MemberURL(slug, userID string) string { return ListURL(slug) + "/" + userID }

// InvitesURL is where admins post new invitations.
func InvitesURL(slug string) string { return "/orgs/" + slug + "/invites" }

// ListPage is the members page.
type ListPage struct {
	Slug      string
	OrgName   string
	CSRFToken string
	IsAdmin   bool
	Rows      []Row
	Invites   []InviteRow
	Invite    InviteForm
}

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
	CSRFToken string
	UserID    string
	Name      string
	Email     string
	Role      string
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
