package api

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// RefuseNUL answers 400 to a management API body whose JSON holds a NUL
// character (\u0000), which PostgreSQL cannot store in text, before any
// handler sees it. It reads at most the largest body an operation takes
// and hands the bytes on; the operation's own bound still applies.
func RefuseNUL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		limit := int64(MaxManageBody)
		if strings.HasSuffix(r.URL.Path, "/keys/import") {
			limit = MaxImportBody
		}
		head, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return WriteError(c, CodeBadRequest, "The request body could not be read.")
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		if hasNULEscape(head) {
			return WriteError(c, CodeBadRequest, "The request body holds a NUL character (\\u0000), which cannot be stored.")
		}
		return next(c)
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// hasNULEscape reports whether JSON text b escapes a NUL: \u0000 after an
// even number of backslashes (an odd number makes it literal text).
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		n := 0
		for k := at; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = at + 1
	}
}
