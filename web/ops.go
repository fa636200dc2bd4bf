package web

import (
	"context"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"keyplane/static"
)

// healthz answers 200 while the process runs.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while the database answers.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

// staticFile serves the embedded assets. Their URLs carry a content hash, so
// they may be cached for a year.
func (s *Server) staticFile(c echo.Context) error {
	name := path.Clean(c.Param("*"))
	b, err := fs.ReadFile(static.FS, name)
	if err != nil || !fs.ValidPath(name) {
		return c.String(http.StatusNotFound, "not found")
	}
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if c.QueryParam("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return c.Blob(http.StatusOK, ctype, b)
}
