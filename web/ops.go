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

// Pinger is what /readyz asks whether the database answers within ctx;
// *store.DB is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// healthz answers 200 while the process runs.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while the database answers (within half a
// second) and the data plane hears key changes: a replica that cannot hear
// revocations should take no new traffic. It is not the data plane's
// load-balancer check: cached keys still verify while it fails (/healthz).
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
	}
	if err := s.verifier.Ready(); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "ok", "data_plane": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

// readyTimeout bounds /readyz's database ping, so an outage fails the check
// within a second even when the database silently drops packets.
const readyTimeout = 500 * time.Millisecond

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
