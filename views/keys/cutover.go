package keys

import (
	"strconv"

	"keyplane/views/components"
)

// CutoverID is the cut-over panel, which app.js fetches again when it was
// drawn for another time zone than the viewer's; CutoverChartID its chart.
const (
	CutoverID      = "key-cutover"
	CutoverChartID = "cutover-hours"
)

// Colours of the two keys in the cut-over chart (Tailwind amber-700 and
// blue-700: at least 3:1 against white).
const (
	CutoverOldColor = "#b45309"
	CutoverNewColor = "#1d4ed8"
)

// EndGraceURL is the address of ending the grace period of the key that key
// id replaced.
func EndGraceURL(slug, id string) string { return KeyURL(slug, id) + "/end-grace" }

// Cutover is the "Rotation in progress" panel of a new key while the key it
// replaced still works in its grace period.
type Cutover struct {
	OldHint string
	NewHint string
	// Deadline is when the old key stops working, in words ("in 23
	// hours"); DeadlineExact and DeadlineISO are the same instant.
	Deadline      string
	DeadlineExact string
	DeadlineISO   string
	// LastHour is the old key's requests, whatever their outcome, in the
	// current hour bucket, which began at LastHourFrom ("14:00 UTC").
	LastHour     int64
	LastHourFrom string
	// Zone is the IANA time zone of the hour labels: the viewer's, or UTC.
	Zone string
	// Hours are both keys' requests per hour since the rotation, at
	// most the last 24, oldest first; the last one is the current hour.
	Hours []CutoverHour
	// EndURL ends the grace period; empty unless the viewer is an admin.
	EndURL string
	// Chart is Hours drawn, both keys stacked, with its table.
	Chart components.Chart
	// StillUsing are the client addresses and origins that sent the old
	// key requests since the rotation: who has not moved yet.
	StillUsing Sources
	// Quiet is set when the rotation asked to end the grace period once
	// the old key has been quiet for an hour.
	Quiet *CutoverQuiet
}

// CutoverQuiet is the quiet-hour rule of a rotation, as the cut-over
// panel states it.
type CutoverQuiet struct {
	// LastRequest is the old key's last request in words ("12 minutes
	// ago"); empty when it had none since the rotation, which was
	// RotatedAgo ("5 minutes ago").
	LastRequest string
	RotatedAgo  string
	// Ends is when the rule ends the grace period if no request comes
	// ("in 48 minutes"); EndsExact and EndsISO are the same instant.
	Ends      string
	EndsExact string
	EndsISO   string
}

// Text is the rule in a sentence, with the old key's last request.
func (q CutoverQuiet) Text() string {
	last := "no request since the rotation " + q.RotatedAgo
	if q.LastRequest != "" {
		last = "last request " + q.LastRequest
	}
	return "Ends early once the old key has been quiet for an hour: " + last + "."
}

// CutoverHour is one hour of the cut-over.
type CutoverHour struct {
	Label string // "14:00 UTC", in the viewer's zone
	Old   int64
	New   int64
}

// LastHourText is the panel's headline: how often the old key was still
// used in the current hour.
func (c Cutover) LastHourText() string {
	switch c.LastHour {
	case 0:
		return "The old key was not used in the last hour."
	case 1:
		return "The old key was still used 1 time in the last hour."
	}
	return "The old key was still used " + strconv.FormatInt(c.LastHour, 10) + " times in the last hour."
}

// Max is the largest hourly count of either key.
func (c Cutover) Max() int64 {
	var m int64
	for _, h := range c.Hours {
		m = max(m, h.Old, h.New)
	}
	return m
}

// EndGraceConfirm asks before ending the grace period of the key that key
// ID replaced.
type EndGraceConfirm struct {
	Slug      string
	CSRFToken string
	ID        string // the new key
	OldHint   string
	OldDesc   string
	// Deadline is when the old key would stop otherwise ("in 23 hours").
	Deadline      string
	DeadlineExact string
}
