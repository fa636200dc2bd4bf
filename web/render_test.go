package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"keyplane/internal/store/storetest"
)

// TestRenderFailsWhole: a component that fails midway sends nothing of
// itself; the error handler answers with the error page and a 500, never a
// truncated 200.
func TestRenderFailsWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	failing := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		io.WriteString(w, "<p>half of a page")
		return errors.New("a view model field was nil")
	})
	rec := httptest.NewRecorder()
	c := e.srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/orgs/acme/keys", nil), rec)
	err := render(c, http.StatusOK, failing)
	if err == nil {
		t.Fatal("render returned no error for a failing component")
	}
	if c.Response().Committed || rec.Body.Len() != 0 {
		t.Fatalf("render sent %d bytes (committed %v) before the component failed", rec.Body.Len(), c.Response().Committed)
	}
	e.srv.handleError(err, c)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "half of a page") || !strings.Contains(rec.Body.String(), `data-testid="error-page"`) {
		t.Fatalf("after the failure: status %d, body %.300s", rec.Code, rec.Body.String())
	}
}
