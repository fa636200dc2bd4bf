package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

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
