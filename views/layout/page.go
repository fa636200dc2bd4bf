// Package layout holds the page frame every dashboard screen sits in.
package layout

import "strings"

// Page is what the frame needs to know about the request: who is signed in,
// which organization they are looking at, and the CSRF token for forms.
type Page struct {
	Title     string
	CSRFToken string
	User      *User
	Org       *Org
	Orgs      []Org
	Flash     string
	// Back is set in a session started from a portal link: the header
	// leads back to the platform's dashboard.
	Back *Back
	// Theme is the viewer's choice of colours: ThemeSystem (follow the
	// device), ThemeLight or ThemeDark.
	Theme string
	// Path is the request's path, for the navigation's current page;
	// ReturnTo is where the theme form comes back to (empty: home).
	Path     string
	ReturnTo string
}

// The viewer's choices of colours.
const (
	ThemeSystem = "system"
	ThemeLight  = "light"
	ThemeDark   = "dark"
)

// Themes are the choices the theme form offers, in its order.
var Themes = []struct{ Value, Label string }{
	{ThemeSystem, "System"},
	{ThemeLight, "Light"},
	{ThemeDark, "Dark"},
}

// ThemePath is where the theme form posts.
const ThemePath = "/theme"

// Current reports whether href is the page shown, or a page under it.
func (p Page) Current(href string) bool {
	return p.Path == href || strings.HasPrefix(p.Path, href+"/")
}

// Back is the "Back to ..." link of a portal session.
type Back struct {
	URL  string
	Host string
}

// User is the signed-in user as the frame shows them.
type User struct {
	Name       string
	Email      string
	IsOperator bool
}

// Org is an organization the user belongs to, with their role in it.
type Org struct {
	Name string
	Slug string
	Role string
	// Disabled is set while an operator has disabled the organization.
	Disabled bool
}

// IDs of the containers that htmx swaps into; handlers use the same
// constants, so the two ends cannot drift apart.
const (
	ModalID  = "modal"
	ToastsID = "toasts"
	MainID   = "main"
	// ThemeFormID is the theme form, which answers htmx with itself.
	ThemeFormID = "theme-form"
)

// CSRFField is the name of the hidden form field carrying the CSRF token;
// CSRFHeader is the header htmx sends it in.
const (
	CSRFField  = "_csrf"
	CSRFHeader = "X-CSRF-Token"
)
