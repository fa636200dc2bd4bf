// Package static embeds Keyplane's built CSS, vendored htmx, Swagger UI
// (the management API's reference) and small scripts, and names each with
// a content hash so browsers may cache them for good.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed app.css app.js htmx.min.js api-docs.js swagger-ui-bundle.js swagger-ui.css
var files embed.FS

// FS holds the static files served under /static/.
var FS fs.FS = files

var versions = map[string]string{}

func init() {
	entries, _ := fs.ReadDir(files, ".")
	for _, e := range entries {
		b, err := fs.ReadFile(files, e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		versions[e.Name()] = hex.EncodeToString(sum[:6])
	}
}

// Path returns the URL of the static file name, with its content hash in the
// query so a changed file gets a new URL.
func Path(name string) string {
	return "/static/" + name + "?v=" + versions[name]
}
