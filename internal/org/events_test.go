package org_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// recorder keeps the events queued, and fails when told to.
type recorder struct {
	mu     sync.Mutex
	events []string
	data   []string
	fail   error
}

func (r *recorder) Enqueue(_ context.Context, orgID, typ string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	b, _ := json.Marshal(data)
	r.events = append(r.events, typ)
	r.data = append(r.data, string(b))
	return nil
}

func TestMembershipChangesQueueEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rec := &recorder{}
		svc := org.NewService(db, fixedClock, org.WithEvents(rec))
		ada := insertUser(t, db, "ada@example.com", "Ada")
		bob := insertUser(t, db, "bob@example.com", "Bob")
		o := mustCreateOrg(t, svc, "Acme", "acme", ada)
		if err := svc.AddMember(ctx, o.ID, bob.ID, org.Member, actorFor(ada)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RemoveMember(ctx, o.ID, bob.ID, actorFor(ada)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(rec.events, " "); got != "member.added member.added member.removed" {
			t.Fatalf("events %q", got)
		}
		var d org.MemberEventData
		json.Unmarshal([]byte(rec.data[1]), &d)
		if d.ID != bob.ID || d.OrgID != o.ID || d.Email != "bob@example.com" || d.Name != "Bob" || d.Role != "member" || d.Actor != "ada@example.com" {
			t.Errorf("member.added data %+v", d)
		}
		// A failing event rolls the change back.
		rec.fail = errors.New("outbox down")
		if err := svc.AddMember(ctx, o.ID, bob.ID, org.Member, actorFor(ada)); err == nil {
			t.Fatal("AddMember succeeded without its event")
		}
		if _, err := svc.Member(ctx, o.ID, bob.ID); err == nil {
			t.Error("the membership outlived its failed event")
		}
	})
}
