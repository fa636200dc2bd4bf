package audit

import (
	"context"
	"strings"
	"time"

	"keyplane/internal/store"
)

// Service reads organizations' audit logs and records the events a
// sign-in adds to each organization of a user. Its methods join the
// transaction their ctx carries (store.DB.WithTx).
type Service struct {
	db  *store.DB
	now func() time.Time
}

// NewService returns a Service; now is the clock of the events it records
// (time.Now when nil).
func NewService(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// RecordInUserOrgs appends the same event, at the Service's time, to every
// organization userID belongs to (sign-ins and wrong passwords are recorded
// this way); a user in no organization records nothing.
func (s *Service) RecordInUserOrgs(ctx context.Context, userID string, actor Actor, action, targetType, targetID, summary string) error {
	return RecordInUserOrgs(ctx, s.db.Conn(ctx), s.now(), userID, actor, action, targetType, targetID, summary)
}

// Listing is a page of an organization's log as its audit page shows it.
type Listing struct {
	Result
	// AnyEvents reports whether the organization has any event at all,
	// whatever the filter, so an empty page can tell "nothing matches"
	// from "nothing yet".
	AnyEvents bool
	// Actors are who acted in the organization, for the actor filter;
	// nil unless Browse was asked for them.
	Actors []string
}

// Browse returns page p of orgID's events matching f. A newer page that
// comes back empty (its events went out of the filter's reach) falls back
// to the newest page. With actors > 0 it also lists at most that many
// actors. Admins of orgID only: the caller checks the role.
func (s *Service) Browse(ctx context.Context, orgID string, f Filter, p Page, actors int) (Listing, error) {
	res, err := s.Search(ctx, orgID, f, p)
	if err != nil {
		return Listing{}, err
	}
	if len(res.Events) == 0 && p.After != nil {
		if res, err = s.Search(ctx, orgID, f, Page{Size: p.Size}); err != nil {
			return Listing{}, err
		}
	}
	l := Listing{Result: res, AnyEvents: len(res.Events) > 0}
	if !l.AnyEvents {
		all, err := s.Search(ctx, orgID, Filter{}, Page{Size: 1})
		if err != nil {
			return Listing{}, err
		}
		l.AnyEvents = len(all.Events) > 0
	}
	if actors > 0 {
		if l.Actors, err = s.Actors(ctx, orgID, actors); err != nil {
			return Listing{}, err
		}
	}
	return l, nil
}

// ParseCursor reads a cursor written by Cursor.String; ok is false for
// anything else.
func ParseCursor(s string) (c Cursor, ok bool) {
	at, id, found := strings.Cut(s, "_")
	if !found || !store.ValidID(id) {
		return Cursor{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Cursor{}, false
	}
	return Cursor{At: t.UTC(), ID: id}, true
}

// String writes c for a URL: its time and id, joined by "_".
func (c Cursor) String() string {
	return c.At.UTC().Format(time.RFC3339Nano) + "_" + c.ID
}
