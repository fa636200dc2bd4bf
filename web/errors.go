package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apperr"
	"keyplane/views/components"
	"keyplane/views/layout"
	"keyplane/views/pages"
	"keyplane/web/api"
)

// statusOf maps an application error code to its HTTP status.
func statusOf(code apperr.Code) int {
	switch code {
	case apperr.Invalid:
		return http.StatusUnprocessableEntity
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.TooMany:
		return http.StatusTooManyRequests
	case apperr.Limit:
		return http.StatusConflict
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// handleError is the one place where errors become responses: JSON in the
// data plane's error shape for /v1 and /api, a redirect to /login for
// anonymous dashboard requests, a toast for htmx, a full page otherwise.
// Users see the error's message; the log sees its cause.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.logger.Error("error after the response was sent", "err", err, "path", loggedPath(c), "request_id", c.Get(ctxRequestID))
		return
	}
	status, code, msg := s.classify(err)
	if status >= 500 {
		s.logger.Error("request failed", "err", err, "path", loggedPath(c), "request_id", c.Get(ctxRequestID))
	}
	path := c.Request().URL.Path
	if strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/api/") || path == "/v1" {
		api.WriteError(c, string(code), msg)
		return
	}
	if status == http.StatusUnauthorized && currentUser(c) == nil && path != "/login" {
		if isHTMX(c) {
			c.Response().Header().Set("HX-Redirect", "/login")
			c.NoContent(http.StatusUnauthorized)
			return
		}
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	if isHTMX(c) {
		h := c.Response().Header()
		h.Set("HX-Retarget", "#"+layout.ToastsID)
		h.Set("HX-Reswap", "beforeend")
		render(c, status, components.Toast(msg, true))
		return
	}
	render(c, status, pages.ErrorPage(s.page(c, headingOf(status)), status, headingOf(status), msg))
}

func (s *Server) classify(err error) (int, apperr.Code, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, apperr.NotFound, "The page you asked for does not exist, or you do not have access to it."
		case http.StatusMethodNotAllowed:
			return he.Code, "method_not_allowed", "This address does not accept that method."
		case http.StatusRequestEntityTooLarge:
			return he.Code, "too_large", "The request is too large."
		}
		if he.Code < 500 {
			return he.Code, apperr.Invalid, "The request could not be understood."
		}
		return he.Code, apperr.Internal, "Something went wrong. Please try again."
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "too_large", "The request is too large."
	}
	code := apperr.CodeOf(err)
	return statusOf(code), code, apperr.MessageOf(err)
}

func headingOf(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusTooManyRequests:
		return "Too many requests"
	case http.StatusServiceUnavailable:
		return "Temporarily unavailable"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "This request could not be completed"
}

func (s *Server) apiNotFound(c echo.Context) error {
	return api.WriteError(c, api.CodeNotFound, "No such endpoint.")
}
