package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/leak"
	"keyplane/internal/verify"
)

// MaxScanningBody bounds a secret scanning request: a thousand reports
// with their URLs.
const MaxScanningBody = 1 << 20

// githubSource is how a GitHub report is named on the key and in the log.
const githubSource = "GitHub secret scanning"

// Scanning receives GitHub's secret scanning partner requests.
type Scanning struct {
	keys   leak.Keys
	github *leak.GitHubKeys
	logger *slog.Logger
}

// NewScanning returns the endpoint over the key service and GitHub's keys.
func NewScanning(keys leak.Keys, github *leak.GitHubKeys, logger *slog.Logger) *Scanning {
	if logger == nil {
		logger = slog.Default()
	}
	return &Scanning{keys: keys, github: github, logger: logger}
}

// GitHub is POST /v1/secret-scanning/github: a signed report of tokens
// found in public. A missing signature is 400, a bad one (or an unknown key
// identifier) 401, a malformed body 400, an oversized one 413; GitHub's
// keys or the database out of reach 503, which GitHub retries. Otherwise
// 200 with a label for every token.
func (s *Scanning) GitHub(c echo.Context) error {
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxScanningBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return WriteError(c, CodeTooLarge, "The request body is larger than 1 MiB")
		}
		return WriteError(c, CodeBadRequest, "The request body cannot be read")
	}
	keyID, sig := r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature")
	switch err := s.github.Verify(r.Context(), keyID, sig, body); {
	case errors.Is(err, leak.ErrUnsigned):
		return WriteError(c, CodeBadRequest, "Github-Public-Key-Identifier and Github-Public-Key-Signature are required")
	case errors.Is(err, leak.ErrBadSignature):
		return WriteError(c, verify.CodeUnauthorized, "The signature does not verify with GitHub's published keys")
	case err != nil:
		s.logger.Warn("secret scanning: GitHub's public keys cannot be fetched", "err", err)
		return WriteError(c, verify.CodeUnavailable, "GitHub's public keys cannot be fetched right now; retry later")
	}
	reports, err := leak.Parse(body)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), leak.ErrMalformed.Error()+": ")
		return WriteError(c, CodeBadRequest, "The body must be a JSON array of {\"token\", \"type\", \"url\", \"source\"}: "+why)
	}
	labels, flagged, err := leak.Process(r.Context(), s.keys, reports, githubSource, audit.Actor{Program: githubSource})
	if err != nil {
		s.logger.Error("secret scanning: report not recorded", "err", err, "tokens", len(reports))
		return WriteError(c, verify.CodeUnavailable, "The report cannot be recorded right now; retry later")
	}
	logFlagged(s.logger, githubSource, flagged)
	return c.JSON(http.StatusOK, labels)
}

// logFlagged writes a warning for each key a report flagged (never the
// token: ids only).
func logFlagged(logger *slog.Logger, source string, flagged []apikey.Leaked) {
	for _, f := range flagged {
		logger.Warn("key found in public", "key_id", f.Key.ID, "org_id", f.Key.OrgID, "source", source, "disabled", f.Disabled)
	}
}
