package keys

// Sources is "Where it is used" on a key's page: the client addresses and
// web origins of the key's requests in the last 30 days.
type Sources struct {
	IPs, Origins []Source
	// Other is a sentence about requests from sources not listed, or "".
	Other string
	// Days is how far back the lists go.
	Days int
}

// Source is one address or origin, with its requests and when it was last
// seen.
type Source struct {
	Value     string
	Requests  string // "1,204"
	LastSeen  string // "3 minutes ago"
	LastExact string // UTC, for the title
	LastISO   string
}

// Empty reports whether no request of the key came in the period.
func (s Sources) Empty() bool { return len(s.IPs) == 0 && len(s.Origins) == 0 && s.Other == "" }
