package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keyplane/views/pages"
	"keyplane/web/api"
)

// apiLog writes one structured line per management API request. The path
// is the route pattern (/api/v1/keys/:id), never the URL, and no header is
// logged: keys travel in headers only. The credential is named by its id
// (an operator token also by its name): this is the record of every use.
func (s *Server) apiLog(next echo.HandlerFunc) echo.HandlerFunc {
	return s.logRequests("api request", "route", echo.Context.Path, func(c echo.Context) []any {
		var who []any
		if cred, ok := c.Get(api.ContextCredentialID).(string); ok {
			who = append(who, "key_id", cred)
		}
		if id, ok := c.Get(api.ContextTokenID).(string); ok {
			who = append(who, "token_id", id, "token_name", c.Get(api.ContextTokenName))
		}
		return who
	})(next)
}

// apiDocs is /api/docs: the management API's reference, from embedded
// files under the dashboard's CSP.
func (s *Server) apiDocs(c echo.Context) error {
	return render(c, http.StatusOK, pages.APIDocs("/api/openapi.json"))
}
