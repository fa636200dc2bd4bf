package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"keyplane/internal/store/storetest"
)

// TestDataPlaneRouter: /v1 has a router of its own with no middleware. A
// panic in one of its handlers is still a 500 problem with the stack in
// the log (never a dropped connection), unknown /v1 paths answer the JSON
// 404, and the dashboard's routes stay out of it.
func TestDataPlaneRouter(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newEnv(t, storetest.SQLite(t), nil, func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	e.srv.data.GET("/v1/boom", e.srv.recovered(func(echo.Context) error { panic("boom in the data plane") }))

	c := e.client()
	r := c.get("/v1/boom")
	wantStatus(t, r, http.StatusInternalServerError)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("a panic answers %q, want JSON", ct)
	}
	out := logs.String()
	if !strings.Contains(out, "boom in the data plane") || !strings.Contains(out, "runtime/debug.Stack") {
		t.Errorf("the panic and its stack are not logged:\n%s", out)
	}

	for _, path := range []string{"/v1", "/v1/", "/v1/nothing-here"} {
		r := c.get(path)
		wantStatus(t, r, http.StatusNotFound)
		var body map[string]any
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Errorf("GET %s: not JSON: %v\n%s", path, err, r.body)
		}
	}
	// A path that merely starts with the letters stays the dashboard's.
	// (No user exists yet: the dashboard sends everyone to set-up.)
	wantRedirect(t, c.get("/v1x"), "/setup")
}
