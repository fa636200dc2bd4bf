package web

import (
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // zone names resolve the same on every machine

	"github.com/labstack/echo/v4"
)

// zoneCookie holds the viewer's IANA time zone, which app.js sets from the
// browser. It is a display preference, not a secret.
const zoneCookie = "kp_tz"

// zones caches loaded locations by name. Only names of the IANA form are
// looked up (no "." or empty segments, which the file system would take
// as other spellings of the same zone), and only those that load are
// kept. A case-insensitive file system would still load "europe/PARIS",
// so the cache also stops growing at maxZones, past the ~600 real names.
var (
	zones     sync.Map
	zoneCount atomic.Int64
)

const maxZones = 1024

// zoneName is the form of an IANA zone name: "UTC", "Europe/Paris",
// "America/Argentina/Buenos_Aires", "Etc/GMT+5".
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

// viewerZone is the time zone the viewer's browser reported, or UTC when
// it reported none or one that does not exist.
func viewerZone(c echo.Context) *time.Location {
	ck, err := c.Cookie(zoneCookie)
	if err != nil {
		return time.UTC
	}
	return zoneByName(ck.Value)
}

// zoneByName loads the IANA zone name, UTC for anything else.
func zoneByName(name string) *time.Location {
	if len(name) > 64 || name == "Local" || !zoneName.MatchString(name) {
		return time.UTC
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	if zoneCount.Load() < maxZones {
		if _, loaded := zones.LoadOrStore(name, loc); !loaded {
			zoneCount.Add(1)
		}
	}
	return loc
}
