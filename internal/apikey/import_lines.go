package apikey

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"keyplane/internal/apperr"
)

// maxImportLine bounds one line of an import.
const maxImportLine = 64 << 10

// ReadImportLines reads JSON lines of keys to import, at most max of them
// (0 for no bound), skipping blank lines. The first unreadable line is an
// Invalid "line N: reason" that never quotes the line: it may hold a key.
func ReadImportLines(r io.Reader, max int) ([]ImportLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxImportLine)
	var out []ImportLine
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if max > 0 && len(out) == max {
			return nil, apperr.New(apperr.Invalid, "line %d: at most %d keys per import; split the file", n, max)
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		var l ImportLine
		if err := dec.Decode(&l); err != nil {
			return nil, apperr.New(apperr.Invalid, "line %d: %s", n, lineProblem(err))
		}
		if dec.More() {
			return nil, apperr.New(apperr.Invalid, "line %d: one JSON object per line", n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, apperr.New(apperr.Invalid, "line %d: longer than %d KiB", n+1, maxImportLine>>10)
		}
		return nil, fmt.Errorf("apikey: read import: %w", err)
	}
	if len(out) == 0 {
		return nil, apperr.New(apperr.Invalid, "no keys to import: give one JSON object per line")
	}
	return out, nil
}

// lineProblem says what is wrong with a line's JSON without quoting it.
func lineProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("%s has the wrong type", typeErr.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + " (known: key, sha256, description, environment, kind, scopes, domains, ips, expires_at, created_at, last_used_at, external_id)"
	}
	return "not a JSON object"
}
