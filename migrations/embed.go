// Package migrations embeds Keyplane's versioned SQL migrations, one folder
// per dialect, numbered the same so both databases move in step.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of dialect ("postgres" or "sqlite").
func FS(dialect string) (fs.FS, error) {
	return fs.Sub(files, dialect)
}
