package setup_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/setup"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const token = "setup-token-0123456789"

var (
	testNow = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)
	client  = audit.Actor{IP: "192.0.2.44", UserAgent: "setup-test/1.0"}
)

func clock() time.Time { return testNow }

func input() setup.Input {
	return setup.Input{
		Token: token, Name: "Olive Operator", Email: "Olive@Example.com", Password: "correct horse battery",
		OrgName: "First Org", OrgSlug: "first",
	}
}

func services(db *store.DB) (*account.Service, *org.Service) {
	accounts := account.NewService(db, clock, account.WithHashParams(account.TestHashParams))
	return accounts, org.NewService(db, clock, org.WithAccounts(accounts))
}

func count(t *testing.T, db *store.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// nothingMade fails the test if anything setup makes exists.
func nothingMade(t *testing.T, db *store.DB) {
	t.Helper()
	for _, table := range []string{"users", "organizations", "memberships", "audit_events"} {
		if n := count(t, db, table); n != 0 {
			t.Errorf("%d rows in %s, want none", n, table)
		}
	}
}

func TestRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		accounts, orgs := services(db)
		svc := setup.New(db, accounts, orgs, token)

		d, err := svc.Run(ctx, input(), client)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !d.Operator.IsOperator || d.Operator.Email != "olive@example.com" || d.Org.Slug != "first" || d.Org.Name != "First Org" {
			t.Fatalf("Run = %+v", d)
		}
		if _, err := accounts.Authenticate(ctx, "olive@example.com", "correct horse battery"); err != nil {
			t.Errorf("the operator cannot sign in: %v", err)
		}
		j, err := orgs.MembershipBySlug(ctx, "first", d.Operator.ID)
		if err != nil || j.Role != org.Admin {
			t.Errorf("membership = %+v, %v; want admin", j, err)
		}
		var events []audit.Event
		if err := db.Order("action").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Action != audit.MemberAdded || events[1].Action != audit.OrgCreated {
			t.Fatalf("events = %+v, want member.added and org.created", events)
		}
		for _, e := range events {
			if e.ActorID == nil || *e.ActorID != d.Operator.ID || e.ActorEmail != d.Operator.Email || e.IP != client.IP || e.UserAgent != client.UserAgent {
				t.Errorf("event %s: actor %v %q from %q %q; want the operator from the client", e.Action, e.ActorID, e.ActorEmail, e.IP, e.UserAgent)
			}
		}

		// Once a user exists, setup is gone, even with the token.
		other := input()
		other.Email, other.OrgSlug = "second@example.com", "second"
		if _, err := svc.Run(ctx, other, client); !errors.Is(err, setup.ErrDone) || !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second Run: %v, want ErrDone", err)
		}
		if count(t, db, "users") != 1 || count(t, db, "organizations") != 1 {
			t.Fatal("a second setup made something")
		}
	})
}

func TestRunRefusesBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		accounts, orgs := services(db)
		for _, tt := range []struct {
			name     string
			token    string // the instance's
			in       func(*setup.Input)
			wantKeys []string
		}{
			{"wrong token", token, func(in *setup.Input) { in.Token = "wrong" }, []string{"token"}},
			{"token with more", token, func(in *setup.Input) { in.Token += "x" }, []string{"token"}},
			{"no token configured", "", func(in *setup.Input) { in.Token = "" }, []string{"token"}},
			{"every field", token, func(in *setup.Input) {
				*in = setup.Input{Token: token, Email: "nope", Password: "short", OrgSlug: "admin"}
			}, []string{"email", "name", "org_name", "org_slug", "password"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				in := input()
				tt.in(&in)
				_, err := setup.New(db, accounts, orgs, tt.token).Run(ctx, in, client)
				if !apperr.Is(err, apperr.Invalid) {
					t.Fatalf("Run: %v, want Invalid", err)
				}
				if got := slices.Sorted(maps.Keys(apperr.FieldsOf(err))); !slices.Equal(got, tt.wantKeys) {
					t.Errorf("fields %v, want %v", got, tt.wantKeys)
				}
				nothingMade(t, db)
			})
		}
	})
}

// failingOrgs creates the organization, then fails: everything setup made
// up to there must go.
type failingOrgs struct {
	orgs *org.Service
	err  error
}

func (f failingOrgs) Create(ctx context.Context, name, slug, adminUserID string, actor audit.Actor) (org.Organization, error) {
	if _, err := f.orgs.Create(ctx, name, slug, adminUserID, actor); err != nil {
		return org.Organization{}, err
	}
	return org.Organization{}, f.err
}

func TestRunLeavesNothingOnFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		accounts, orgs := services(db)
		boom := errors.New("boom")
		if _, err := setup.New(db, accounts, failingOrgs{orgs, boom}, token).Run(ctx, input(), client); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want boom", err)
		}
		nothingMade(t, db)

		// A slug taken by an organization without members (made behind
		// setup's back): the operator made before is undone too.
		taken := org.Organization{ID: store.NewID(), Name: "Taken", Slug: "first", CreatedAt: testNow, UpdatedAt: testNow}
		if err := db.Create(&taken).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := setup.New(db, accounts, orgs, token).Run(ctx, input(), client); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("Run with a taken slug = %v, want Conflict", err)
		}
		if count(t, db, "users") != 0 || count(t, db, "memberships") != 0 {
			t.Fatal("a failed setup left its operator behind")
		}

		// Setup still works afterwards.
		in := input()
		in.OrgSlug = "first-2"
		if _, err := setup.New(db, accounts, orgs, token).Run(ctx, in, client); err != nil {
			t.Fatalf("Run after the failures: %v", err)
		}
	})
}

// Two servers setting up at once: one wins, the other finds it done.
func TestRunOnceAcrossServers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			accounts, orgs := services(db)
			svc := setup.New(db, accounts, orgs, token)
			in := input()
			in.Email = []string{"a@example.com", "b@example.com"}[i]
			in.OrgSlug = []string{"org-a", "org-b"}[i]
			wg.Go(func() { _, errs[i] = svc.Run(ctx, in, client) })
		}
		wg.Wait()
		ok, done := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, setup.ErrDone):
				done++
			default:
				t.Errorf("Run: %v", err)
			}
		}
		if ok != 1 || done != 1 {
			t.Fatalf("%d setups succeeded and %d found it done; want one each (%v)", ok, done, errs)
		}
		if count(t, db, "users") != 1 || count(t, db, "organizations") != 1 {
			t.Fatal("two setups both made something")
		}
	})
}
