package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

var testNow = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

func insertUser(t *testing.T, db *store.DB, email string) account.User {
	t.Helper()
	u := account.User{ID: store.NewID(), Email: email, Name: email, PasswordHash: "-", CreatedAt: testNow, UpdatedAt: testNow}
	if err := db.Create(&u).Error; err != nil {
		t.Fatalf("insert user %s: %v", email, err)
	}
	return u
}

func insertOrg(t *testing.T, db *store.DB, slug string, members ...account.User) string {
	t.Helper()
	o := org.Organization{ID: store.NewID(), Name: slug, Slug: slug, CreatedAt: testNow, UpdatedAt: testNow}
	if err := db.Create(&o).Error; err != nil {
		t.Fatalf("insert org %s: %v", slug, err)
	}
	for _, u := range members {
		m := org.Membership{ID: store.NewID(), OrgID: o.ID, UserID: u.ID, Role: org.Member, CreatedAt: testNow, UpdatedAt: testNow}
		if err := db.Create(&m).Error; err != nil {
			t.Fatalf("insert membership: %v", err)
		}
	}
	return o.ID
}

func countEvents(t *testing.T, db *store.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&audit.Event{}).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatalf("count events: %v", err)
	}
	return n
}

func TestRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		alice := insertUser(t, db, "alice@example.com")
		orgID := insertOrg(t, db, "acme", alice)
		actor := audit.Actor{UserID: alice.ID, Email: alice.Email, IP: "2001:db8::7", UserAgent: "Mozilla/5.0 (audit test)"}

		before := time.Now().Add(-time.Second)
		if err := audit.Record(ctx, db.DB, time.Now(), orgID, actor, "key.created", "key", "key-1", "alice created a key"); err != nil {
			t.Fatalf("Record: %v", err)
		}
		events, err := audit.List(ctx, db.DB, orgID, 10)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(events) != 1 {
			t.Fatalf("List = %d events, want 1", len(events))
		}
		e := events[0]
		if e.OrgID == nil || *e.OrgID != orgID || e.ActorID == nil || *e.ActorID != alice.ID ||
			e.ActorEmail != alice.Email || e.Action != "key.created" || e.TargetType != "key" || e.TargetID != "key-1" ||
			e.Summary != "alice created a key" || e.IP != actor.IP || e.UserAgent != actor.UserAgent || !store.ValidID(e.ID) {
			t.Errorf("event = %+v, want every field recorded", e)
		}
		if e.CreatedAt.Before(before) || e.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("created at %v, want about now", e.CreatedAt)
		}

		// An instance-wide event by nobody in particular belongs to no org.
		if err := audit.Record(ctx, db.DB, time.Now(), "", audit.Actor{IP: "192.0.2.1"}, "setup.done", "", "", "setup finished"); err != nil {
			t.Fatalf("Record instance-wide: %v", err)
		}
		if n := countEvents(t, db, "org_id IS NULL AND actor_id IS NULL AND action = ?", "setup.done"); n != 1 {
			t.Errorf("%d instance-wide events without actor, want 1", n)
		}
		if events, _ := audit.List(ctx, db.DB, orgID, 10); len(events) != 1 {
			t.Errorf("the instance-wide event shows in the org's log: %d events", len(events))
		}
	})
}

func TestRecordTruncatesUserAgent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tests := []struct {
			name, agent string
			want        string // "" means: check only the bounds
		}{
			{"short", "curl/8.0", "curl/8.0"},
			{"exactly 512", strings.Repeat("a", 512), strings.Repeat("a", 512)},
			{"ascii past 512", strings.Repeat("a", 600), strings.Repeat("a", 512)},
			{"multibyte rune across byte 512", strings.Repeat("a", 511) + strings.Repeat("é", 10), strings.Repeat("a", 511)},
			{"invalid UTF-8", "agent\xff" + strings.Repeat("b", 700), ""},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				orgID := insertOrg(t, db, fmt.Sprintf("org-%d", i))
				if err := audit.Record(ctx, db.DB, time.Now(), orgID, audit.Actor{UserAgent: tt.agent}, "login.failed", "", "", "s"); err != nil {
					t.Fatalf("Record: %v", err)
				}
				events, err := audit.List(ctx, db.DB, orgID, 1)
				if err != nil || len(events) != 1 {
					t.Fatalf("List = %v, %v", events, err)
				}
				got := events[0].UserAgent
				if len(got) > 512 || !utf8.ValidString(got) {
					t.Errorf("stored agent has %d bytes, valid UTF-8 %v; want at most 512 valid", len(got), utf8.ValidString(got))
				}
				if tt.want != "" && got != tt.want {
					t.Errorf("stored agent = %q (%d bytes), want %d bytes", got, len(got), len(tt.want))
				}
			})
		}
	})
}

func TestRecordInUserOrgs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		alice := insertUser(t, db, "alice@example.com")
		bob := insertUser(t, db, "bob@example.com")
		loner := insertUser(t, db, "loner@example.com")
		a := insertOrg(t, db, "org-a", alice)
		b := insertOrg(t, db, "org-b", alice, bob)
		c := insertOrg(t, db, "org-c", bob)
		actor := audit.Actor{UserID: alice.ID, Email: alice.Email, IP: "192.0.2.1", UserAgent: "ua"}

		svc := audit.NewService(db, func() time.Time { return testNow })
		if err := svc.RecordInUserOrgs(ctx, alice.ID, actor, audit.LoginSucceeded, "user", alice.ID, "alice signed in"); err != nil {
			t.Fatalf("RecordInUserOrgs: %v", err)
		}
		for _, tt := range []struct {
			org  string
			want int64
		}{{a, 1}, {b, 1}, {c, 0}} {
			if n := countEvents(t, db, "org_id = ?", tt.org); n != tt.want {
				t.Errorf("org %s has %d events, want %d", tt.org, n, tt.want)
			}
		}
		if n := countEvents(t, db, "1 = 1"); n != 2 {
			t.Errorf("%d events in all, want 2", n)
		}
		for _, id := range []string{a, b} {
			events, err := audit.List(ctx, db.DB, id, 10)
			if err != nil || len(events) != 1 {
				t.Fatalf("List(%s) = %v, %v", id, events, err)
			}
			if e := events[0]; e.Action != audit.LoginSucceeded || e.Summary != "alice signed in" || e.ActorEmail != alice.Email || e.TargetID != alice.ID || !e.CreatedAt.Equal(testNow) {
				t.Errorf("event in %s = %+v", id, e)
			}
		}

		if err := svc.RecordInUserOrgs(ctx, loner.ID, audit.Actor{UserID: loner.ID}, audit.LoginFailed, "user", loner.ID, "x"); err != nil {
			t.Fatalf("RecordInUserOrgs for a user in no org: %v", err)
		}
		if n := countEvents(t, db, "1 = 1"); n != 2 {
			t.Errorf("a user in no org added events: %d in all, want 2", n)
		}
	})
}

func TestListNewestFirstAndScoped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := insertOrg(t, db, "org-a")
		b := insertOrg(t, db, "org-b")
		for _, ev := range []struct{ org, summary string }{
			{a, "a1"}, {b, "b1"}, {a, "a2"}, {a, "a3"}, {b, "b2"}, {a, "a4"},
		} {
			if err := audit.Record(ctx, db.DB, time.Now(), ev.org, audit.Actor{}, "test.event", "", "", ev.summary); err != nil {
				t.Fatalf("Record(%s): %v", ev.summary, err)
			}
		}
		summaries := func(orgID string, limit int) []string {
			t.Helper()
			events, err := audit.List(ctx, db.DB, orgID, limit)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var out []string
			for _, e := range events {
				if e.OrgID == nil || *e.OrgID != orgID {
					t.Errorf("event %q of org %v listed for %s", e.Summary, e.OrgID, orgID)
				}
				out = append(out, e.Summary)
			}
			return out
		}
		for _, tt := range []struct {
			name  string
			org   string
			limit int
			want  []string
		}{
			{"org a", a, 10, []string{"a4", "a3", "a2", "a1"}},
			{"org a, limit 2", a, 2, []string{"a4", "a3"}},
			{"org b", b, 10, []string{"b2", "b1"}},
			{"unknown org", store.NewID(), 10, nil},
		} {
			if got := summaries(tt.org, tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("%s: List = %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}
