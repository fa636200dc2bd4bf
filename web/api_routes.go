package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/views/pages"
	"keyplane/web/api"
)

// apiLog writes one structured line per management API request. The path
// is the route pattern (/api/v1/keys/:id), never the URL, and no header is
// logged: keys travel in headers only. The credential is named by its id
// (an operator token also by its name): this is the record of every use.
func (s *Server) apiLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !requestIDRE.MatchString(id) {
			id = randomToken(12)
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		if err := next(c); err != nil {
			c.Error(err)
		}
		attrs := []any{
			"request_id", id, "method", c.Request().Method, "route", c.Path(),
			"status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds(), "ip", c.RealIP(),
		}
		if cred, ok := c.Get(api.ContextCredentialID).(string); ok {
			attrs = append(attrs, "key_id", cred)
		}
		if id, ok := c.Get(api.ContextTokenID).(string); ok {
			attrs = append(attrs, "token_id", id, "token_name", c.Get(api.ContextTokenName))
		}
		level := slog.LevelInfo
		if c.Response().Status >= 500 {
			level = slog.LevelError
		}
		s.logger.Log(c.Request().Context(), level, "api request", attrs...)
		return nil
	}
}

// apiDocs is /api/docs: the management API's reference, from embedded
// files under the dashboard's CSP.
func (s *Server) apiDocs(c echo.Context) error {
	return render(c, http.StatusOK, pages.APIDocs("/api/openapi.json"))
}
