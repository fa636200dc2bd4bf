package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keyplane/views/components"
	"keyplane/views/keys"
	"keyplane/views/layout"
)

// isHTMX reports whether htmx made the request for a fragment: not a
// boosted page load, and not a history restore, both of which want the
// whole page.
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}

// redirect sends the browser to url: a 303 for plain requests, HX-Redirect
// for htmx, which would otherwise swap the target page into the current one.
func redirect(c echo.Context, url string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// dialog answers htmx with modal(vm), which the page opens in its modal
// slot, and any other request with screen(vm) as a whole page titled title,
// so the same step works without JavaScript.
func dialog[VM any](s *Server, c echo.Context, status int, title string, modal func(VM) templ.Component, screen func(layout.Page, VM) templ.Component, vm VM) error {
	if isHTMX(c) {
		return render(c, status, modal(vm))
	}
	return render(c, status, screen(s.page(c, title), vm))
}

// closeDialog answers an htmx mutation made from a dialog: the dialog
// closes, parts (out-of-band swaps) update the page, and a toast says
// message. Nothing is swapped into the request's own target.
func closeDialog(c echo.Context, message string, parts ...templ.Component) error {
	h := c.Response().Header()
	h.Set("HX-Reswap", "none")
	h.Set("HX-Trigger", keys.CloseModalEvt)
	return render(c, http.StatusOK, templ.Join(append(parts, components.ToastOOB(message))...))
}
