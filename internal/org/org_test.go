package org_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

var testNow = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// insertUser stores a user directly, without the cost of hashing a password.
func insertUser(t *testing.T, db *store.DB, email, name string) account.User {
	t.Helper()
	u := account.User{ID: store.NewID(), Email: email, Name: name, PasswordHash: "-", CreatedAt: testNow, UpdatedAt: testNow}
	if err := db.Create(&u).Error; err != nil {
		t.Fatalf("insert user %s: %v", email, err)
	}
	return u
}

func actorFor(u account.User) audit.Actor {
	return audit.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.10", UserAgent: "org-test/1.0"}
}

func mustCreateOrg(t *testing.T, svc *org.Service, name, slug string, admin account.User) org.Organization {
	t.Helper()
	o, err := svc.Create(context.Background(), name, slug, admin.ID, actorFor(admin))
	if err != nil {
		t.Fatalf("Create(%s): %v", slug, err)
	}
	return o
}

func count(t *testing.T, db *store.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func fieldNames(err error) []string { return slices.Sorted(maps.Keys(apperr.FieldsOf(err))) }

func TestValidateSlug(t *testing.T) {
	tests := []struct {
		slug  string
		valid bool
	}{
		{"ab", true},
		{"a1", true},
		{"42", true},
		{"acme-corp", true},
		{"a-b-c", true},
		{"a--b", true},
		{strings.Repeat("a", 40), true},
		{"a" + strings.Repeat("-", 38) + "z", true},
		{"", false},
		{"a", false},
		{strings.Repeat("a", 41), false},
		{"Acme", false},
		{"ACME", false},
		{"-acme", false},
		{"acme-", false},
		{"-", false},
		{"--", false},
		{"acme_corp", false},
		{"acme corp", false},
		{"acme.corp", false},
		{"acme/corp", false},
		{"ácme", false},
		{"admin", false},
		{"api", false},
		{"v1", false},
		{"static", false},
		{"setup", false},
		{"login", false},
		{"logout", false},
		{"invites", false},
		{"account", false},
		{"orgs", false},
		{"admins", true},
		{"v2", true},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			msg := org.ValidateSlug(tt.slug)
			if tt.valid && msg != "" {
				t.Errorf("ValidateSlug(%q) = %q, want valid", tt.slug, msg)
			}
			if !tt.valid && msg == "" {
				t.Errorf("ValidateSlug(%q) accepted it", tt.slug)
			}
		})
	}
	for _, word := range []string{"admin", "api", "v1", "static", "setup", "login", "logout", "invites", "account", "orgs"} {
		if msg := org.ValidateSlug(word); !strings.Contains(msg, "reserved") {
			t.Errorf("ValidateSlug(%q) = %q, want it to say the word is reserved", word, msg)
		}
	}
}

func TestCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		op := insertUser(t, db, "op@example.com", "Operator")
		actor := actorFor(op)

		o, err := svc.Create(ctx, "  Acme Corp ", " acme ", op.ID, actor)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if o.Name != "Acme Corp" || o.Slug != "acme" || !store.ValidID(o.ID) || !o.CreatedAt.Equal(testNow) {
			t.Errorf("Create = %+v, want trimmed name and slug, a UUID, created now", o)
		}
		got, err := svc.BySlug(ctx, "acme")
		if err != nil || got.ID != o.ID || got.Name != "Acme Corp" {
			t.Fatalf("BySlug = %+v, %v; want %s", got, err, o.ID)
		}
		j, err := svc.MembershipBySlug(ctx, "acme", op.ID)
		if err != nil || j.Role != org.Admin || j.ID != o.ID {
			t.Fatalf("MembershipBySlug = %+v, %v; want admin of %s", j, err, o.ID)
		}

		events, err := audit.List(ctx, db.DB, o.ID, 10)
		if err != nil {
			t.Fatalf("audit.List: %v", err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
			if e.ActorEmail != "op@example.com" || e.ActorID == nil || *e.ActorID != op.ID ||
				e.IP != actor.IP || e.UserAgent != actor.UserAgent || e.OrgID == nil || *e.OrgID != o.ID {
				t.Errorf("event %s = %+v, want by %s from %s in %s", e.Action, e, op.Email, actor.IP, o.ID)
			}
			if !strings.Contains(e.Summary, "op@example.com") {
				t.Errorf("summary %q does not name the actor", e.Summary)
			}
		}
		if want := []string{audit.MemberAdded, audit.OrgCreated}; !slices.Equal(actions, want) {
			t.Errorf("audit actions newest first = %v, want %v", actions, want)
		}

		_, err = svc.Create(ctx, "Other", "acme", op.ID, actor)
		if !apperr.Is(err, apperr.Conflict) || apperr.FieldsOf(err)["slug"] == "" {
			t.Fatalf("duplicate slug: %v (fields %v), want Conflict on slug", err, apperr.FieldsOf(err))
		}
		if count(t, db, "organizations") != 1 || count(t, db, "memberships") != 1 || count(t, db, "audit_events") != 2 {
			t.Errorf("the refused duplicate stored something")
		}
	})
}

func TestCreateWithoutUserIsActorless(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		admin := insertUser(t, db, "first@example.com", "First")
		o, err := svc.Create(ctx, "Acme", "acme", admin.ID, audit.Actor{})
		if err != nil {
			t.Fatalf("Create from the command line: %v", err)
		}
		events, err := audit.List(ctx, db.DB, o.ID, 10)
		if err != nil || len(events) != 2 {
			t.Fatalf("audit.List = %d events, %v; want 2", len(events), err)
		}
		for _, e := range events {
			if e.ActorID != nil || e.ActorEmail != "" || !strings.Contains(e.Summary, "command line") {
				t.Errorf("event %+v, want no actor and a summary naming the command line", e)
			}
		}
	})
}

func TestCreateInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		op := insertUser(t, db, "op@example.com", "Operator")
		tests := []struct {
			name, orgName, slug string
			wantCode            apperr.Code
			wantFields          []string
		}{
			{"empty name", "", "acme", apperr.Invalid, []string{"name"}},
			{"blank name", "   ", "acme", apperr.Invalid, []string{"name"}},
			{"long name", strings.Repeat("n", 101), "acme", apperr.Invalid, []string{"name"}},
			{"empty slug", "Acme", "", apperr.Invalid, []string{"slug"}},
			{"uppercase slug", "Acme", "Acme", apperr.Invalid, []string{"slug"}},
			{"reserved slug", "Acme", "admin", apperr.Invalid, []string{"slug"}},
			{"both", "", "-", apperr.Invalid, []string{"name", "slug"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := svc.Create(ctx, tt.orgName, tt.slug, op.ID, actorFor(op))
				if !apperr.Is(err, tt.wantCode) {
					t.Fatalf("Create = %v, want %s", err, tt.wantCode)
				}
				if got := fieldNames(err); !slices.Equal(got, tt.wantFields) {
					t.Errorf("fields = %v, want messages on %v", apperr.FieldsOf(err), tt.wantFields)
				}
				for _, table := range []string{"organizations", "memberships", "audit_events"} {
					if n := count(t, db, table); n != 0 {
						t.Errorf("%d rows in %s, want none", n, table)
					}
				}
			})
		}

		// An unknown first admin rolls the whole creation back.
		_, err := svc.Create(ctx, "Acme", "acme", store.NewID(), actorFor(op))
		if !apperr.Is(err, apperr.NotFound) || apperr.FieldsOf(err)["user_id"] == "" {
			t.Fatalf("Create with unknown admin = %v, want NotFound on user_id", err)
		}
		if _, err := svc.BySlug(ctx, "acme"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("BySlug after the failed create = %v, want NotFound", err)
		}
		for _, table := range []string{"organizations", "memberships", "audit_events"} {
			if n := count(t, db, table); n != 0 {
				t.Errorf("%d rows in %s after the rolled-back create, want none", n, table)
			}
		}
	})
}

func TestAddMember(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		op := insertUser(t, db, "op@example.com", "Operator")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		o := mustCreateOrg(t, svc, "Acme", "acme", op)

		if err := svc.AddMember(ctx, o.ID, bob.ID, org.Member, actorFor(op)); err != nil {
			t.Fatalf("AddMember: %v", err)
		}
		j, err := svc.MembershipBySlug(ctx, "acme", bob.ID)
		if err != nil || j.Role != org.Member {
			t.Fatalf("MembershipBySlug(bob) = %+v, %v; want member", j, err)
		}
		events, err := audit.List(ctx, db.DB, o.ID, 1)
		if err != nil || len(events) != 1 {
			t.Fatalf("audit.List = %v, %v", events, err)
		}
		if e := events[0]; e.Action != audit.MemberAdded || e.TargetID != bob.ID || !strings.Contains(e.Summary, "bob@example.com") {
			t.Errorf("newest event = %+v, want member.added naming bob", e)
		}

		members, events0 := count(t, db, "memberships"), count(t, db, "audit_events")
		tests := []struct {
			name      string
			orgID     string
			userID    string
			role      org.Role
			wantCode  apperr.Code
			wantField string
		}{
			{"unknown user", o.ID, store.NewID(), org.Member, apperr.NotFound, "user_id"},
			{"malformed user id", o.ID, "bob", org.Member, apperr.NotFound, "user_id"},
			{"unknown org", store.NewID(), bob.ID, org.Member, apperr.NotFound, "org_id"},
			{"malformed org id", "acme", bob.ID, org.Member, apperr.NotFound, "org_id"},
			{"already a member", o.ID, bob.ID, org.Admin, apperr.Conflict, "user_id"},
			{"creator already admin", o.ID, op.ID, org.Member, apperr.Conflict, "user_id"},
			{"bad role", o.ID, bob.ID, org.Role("owner"), apperr.Invalid, "role"},
			{"empty role", o.ID, bob.ID, org.Role(""), apperr.Invalid, "role"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := svc.AddMember(ctx, tt.orgID, tt.userID, tt.role, actorFor(op))
				if !apperr.Is(err, tt.wantCode) {
					t.Fatalf("AddMember = %v, want %s", err, tt.wantCode)
				}
				if got := fieldNames(err); !slices.Equal(got, []string{tt.wantField}) {
					t.Errorf("fields = %v, want a message on %s", apperr.FieldsOf(err), tt.wantField)
				}
				if count(t, db, "memberships") != members || count(t, db, "audit_events") != events0 {
					t.Errorf("the refused AddMember stored something")
				}
			})
		}
		if j, _ := svc.MembershipBySlug(ctx, "acme", bob.ID); j.Role != org.Member {
			t.Errorf("bob's role changed to %q by a refused AddMember", j.Role)
		}
	})
}

func TestMembershipBySlugHidesOtherOrgs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		alice := insertUser(t, db, "alice@example.com", "Alice")
		mallory := insertUser(t, db, "mallory@example.com", "Mallory")
		mustCreateOrg(t, svc, "Acme", "acme", alice)
		mustCreateOrg(t, svc, "Evil", "evil", mallory)

		_, errOther := svc.MembershipBySlug(ctx, "acme", mallory.ID)
		_, errUnknown := svc.MembershipBySlug(ctx, "nope", mallory.ID)
		for name, err := range map[string]error{"non-member": errOther, "unknown slug": errUnknown} {
			if !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s: %v, want NotFound", name, err)
			}
		}
		if errOther == nil || errUnknown == nil || errOther.Error() != errUnknown.Error() ||
			apperr.MessageOf(errOther) != apperr.MessageOf(errUnknown) {
			t.Errorf("non-member says %v but unknown slug says %v; want the same", errOther, errUnknown)
		}
		if j, err := svc.MembershipBySlug(ctx, "evil", mallory.ID); err != nil || j.Slug != "evil" || j.Role != org.Admin {
			t.Errorf("own org = %+v, %v", j, err)
		}
	})
}

func TestForUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		alice := insertUser(t, db, "alice@example.com", "Alice")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		beta := mustCreateOrg(t, svc, "Beta", "beta", alice)
		alpha := mustCreateOrg(t, svc, "Alpha", "alpha", bob)
		mustCreateOrg(t, svc, "Gamma", "gamma", bob)
		if err := svc.AddMember(ctx, alpha.ID, alice.ID, org.Member, actorFor(bob)); err != nil {
			t.Fatalf("AddMember: %v", err)
		}

		list, err := svc.ForUser(ctx, alice.ID)
		if err != nil {
			t.Fatalf("ForUser: %v", err)
		}
		type row struct {
			id, slug, name string
			role           org.Role
		}
		var got []row
		for _, j := range list {
			got = append(got, row{j.ID, j.Slug, j.Name, j.Role})
		}
		want := []row{{alpha.ID, "alpha", "Alpha", org.Member}, {beta.ID, "beta", "Beta", org.Admin}}
		if !slices.Equal(got, want) {
			t.Errorf("ForUser(alice) = %+v, want %+v", got, want)
		}

		if list, err := svc.ForUser(ctx, insertUser(t, db, "carol@example.com", "Carol").ID); err != nil || len(list) != 0 {
			t.Errorf("ForUser(user in no org) = %+v, %v; want none", list, err)
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		alice := insertUser(t, db, "alice@example.com", "Alice")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		carol := insertUser(t, db, "carol@example.com", "Carol")
		beta := mustCreateOrg(t, svc, "Beta", "beta", alice)
		alpha := mustCreateOrg(t, svc, "Alpha", "alpha", bob)
		for _, u := range []account.User{alice, carol} {
			if err := svc.AddMember(ctx, alpha.ID, u.ID, org.Member, actorFor(bob)); err != nil {
				t.Fatalf("AddMember: %v", err)
			}
		}

		list, err := svc.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		type row struct {
			id, slug string
			members  int
		}
		var got []row
		for _, s := range list {
			got = append(got, row{s.ID, s.Slug, s.Members})
		}
		if want := []row{{alpha.ID, "alpha", 3}, {beta.ID, "beta", 1}}; !slices.Equal(got, want) {
			t.Errorf("List = %+v, want %+v", got, want)
		}
	})
}

func TestMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := org.NewService(db, fixedClock)
		zed := insertUser(t, db, "zed@example.com", "Zed")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		amy := insertUser(t, db, "amy@example.com", "Amy")
		yan := insertUser(t, db, "yan@example.com", "Yan")
		outsider := insertUser(t, db, "outsider@example.com", "Outsider")
		o := mustCreateOrg(t, svc, "Acme", "acme", zed)
		mustCreateOrg(t, svc, "Other", "other", outsider)
		for _, m := range []struct {
			u    account.User
			role org.Role
		}{{bob, org.Member}, {amy, org.Member}, {yan, org.Admin}} {
			if err := svc.AddMember(ctx, o.ID, m.u.ID, m.role, actorFor(zed)); err != nil {
				t.Fatalf("AddMember(%s): %v", m.u.Email, err)
			}
		}
		login := testNow.Add(-time.Hour)
		if err := db.Model(&account.User{}).Where("id = ?", amy.ID).Update("last_login_at", login).Error; err != nil {
			t.Fatalf("set last login: %v", err)
		}

		rows, err := svc.Members(ctx, o.ID)
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Email+":"+string(r.Role))
			if !r.JoinedAt.Equal(testNow) {
				t.Errorf("%s joined at %v, want %v", r.Email, r.JoinedAt, testNow)
			}
			switch r.UserID {
			case amy.ID:
				if r.Name != "Amy" || r.LastLoginAt == nil || !r.LastLoginAt.Equal(login) {
					t.Errorf("amy = %+v, want name Amy and last login %v", r, login)
				}
			case zed.ID:
				if r.Name != "Zed" || r.LastLoginAt != nil {
					t.Errorf("zed = %+v, want name Zed, never logged in", r)
				}
			}
		}
		want := []string{"yan@example.com:admin", "zed@example.com:admin", "amy@example.com:member", "bob@example.com:member"}
		if !slices.Equal(got, want) {
			t.Errorf("Members = %v, want admins first, then by email: %v", got, want)
		}

		if rows, err := svc.Members(ctx, store.NewID()); err != nil || len(rows) != 0 {
			t.Errorf("Members(unknown org) = %v, %v; want none", rows, err)
		}
	})
}
