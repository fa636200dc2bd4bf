package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/lifecycle"
	"keyplane/internal/org"
	"keyplane/internal/secretbox"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/webhook"
)

var start = time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)

// replica is one server's services over a shared database.
type replica struct {
	keys *apikey.Service
	job  *lifecycle.Job
}

// env is an organization with a webhook endpoint that wants every event,
// and the services of one replica (more with addReplica).
type env struct {
	db    *store.DB
	clock *clocktest.Clock
	orgs  *org.Service
	org   string
	admin audit.Actor
	box   *secretbox.Box
	replica

	mu      sync.Mutex
	changed [][]byte
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{db: db, clock: clocktest.New(start)}
	users := account.NewService(db, e.clock.Now, account.WithHashParams(account.TestHashParams))
	e.orgs = org.NewService(db, e.clock.Now)
	u, err := users.CreateUser(ctx, account.NewUser{Email: "ada@example.com", Name: "Ada", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = audit.Actor{UserID: u.ID, Email: u.Email}
	o, err := e.orgs.Create(ctx, "Acme", "acme", u.ID, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	e.org = o.ID
	if e.box, err = secretbox.New(secretbox.Key{ID: 1, Secret: []byte(strings.Repeat("s", 32))}); err != nil {
		t.Fatal(err)
	}
	e.replica = e.addReplica(db)
	hooks := webhook.NewService(db, webhook.Options{Box: e.box, Now: e.clock.Now})
	if _, err := hooks.Create(ctx, e.org, webhook.Input{URL: "https://93.184.216.34/hooks", Events: []string{webhook.AllEvents}}, e.admin); err != nil {
		t.Fatal(err)
	}
	return e
}

// addReplica returns the key service and job of another server over db.
func (e *env) addReplica(db *store.DB) replica {
	hooks := webhook.NewService(db, webhook.Options{Box: e.box, Now: e.clock.Now})
	keys := apikey.NewService(db, apikey.Options{
		Prefix: "kp", MaxKeys: 1000, Now: e.clock.Now, Events: hooks,
		Changed: func(h []byte) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changed = append(e.changed, bytes.Clone(h))
		},
	})
	return replica{keys: keys, job: lifecycle.New(db, keys, lifecycle.Options{Events: hooks, Now: e.clock.Now})}
}

func (e *env) takeChanged() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.changed
	e.changed = nil
	return out
}

func (e *env) key(t *testing.T, description string, expiresIn time.Duration) apikey.Key {
	t.Helper()
	c, err := e.keys.Create(context.Background(), e.org, "", apikey.Input{
		Description: description, Kind: "private", Environment: "live", ExpiresIn: expiresIn,
	}, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	return c.Key
}

func (e *env) run(t *testing.T) lifecycle.Result {
	t.Helper()
	res, err := e.job.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return res
}

// sent is one queued delivery: its type and data.
type sent struct {
	Type string
	Data map[string]any
}

// deliveries returns the lifecycle events queued since the last call, in
// order, as "type description" with their data.
func (e *env) deliveries(t *testing.T, seen *int) []sent {
	t.Helper()
	var list []webhook.Delivery
	if err := e.db.Where("event_type IN ?", []string{"key.expiring", "key.expired", "key.idle", "key.disabled"}).Order("created_at, id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	var out []sent
	for _, d := range list[*seen:] {
		var p struct {
			Type string
			Data map[string]any
		}
		if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{p.Type, p.Data})
	}
	*seen = len(list)
	return out
}

func names(list []sent) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Type + " " + s.Data["description"].(string)
		if w, ok := s.Data["within"]; ok {
			out[i] += " " + w.(string)
		}
	}
	return out
}

// TestExpiryReminders: key.expiring 7 days and 1 day before a key's
// deadline and key.expired at it, each once however often the job runs; a
// rotated key's grace deadline is its expiry; moving the expiry announces
// the new one; long-expired keys are not announced late.
func TestExpiryReminders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		// Expired two days before the job first runs: never announced.
		old := e.key(t, "Old", time.Hour)
		e.clock.Advance(49 * time.Hour)
		seen := 0
		if got := names(e.deliveries(t, &seen)); len(got) != 0 {
			t.Fatalf("before any run: %v", got)
		}
		e.run(t)
		if got := e.deliveries(t, &seen); len(got) != 0 {
			t.Errorf("a key expired 2 days ago was announced: %v", names(got))
		}

		ten := e.key(t, "Ten", 10*24*time.Hour)
		e.key(t, "Forever", 0)
		rotated := e.key(t, "Rotated", 0)
		if _, _, err := e.keys.Rotate(ctx, e.org, rotated.ID, "24h", "", e.admin); err != nil {
			t.Fatal(err)
		}
		e.run(t)
		if got := names(e.deliveries(t, &seen)); len(got) != 0 {
			t.Errorf("nothing is due yet, got %v", got)
		}

		steps := []struct {
			advance time.Duration
			want    []string
		}{
			{23*time.Hour + 59*time.Minute, nil},
			{2 * time.Minute, []string{"key.expired Rotated"}},    // its grace ended
			{2 * 24 * time.Hour, []string{"key.expiring Ten 7d"}}, // 7 days less a minute left
			{time.Hour, nil},
			{6 * 24 * time.Hour, []string{"key.expiring Ten 1d"}},
			{22 * time.Hour, nil},
			{time.Hour, []string{"key.expired Ten"}},
			{time.Hour, nil},
		}
		for i, s := range steps {
			e.clock.Advance(s.advance)
			for range 2 { // a second run finds nothing more
				e.run(t)
			}
			if got := names(e.deliveries(t, &seen)); !slices.Equal(got, s.want) {
				t.Errorf("step %d (%s): %v, want %v", i, e.clock.Now().Sub(start), got, s.want)
			}
		}

		// The data: the key as other events carry it, and its deadline.
		var d webhook.Delivery
		db.Where("event_type = ?", "key.expired").Order("created_at DESC").First(&d)
		var p struct {
			Data map[string]any
		}
		json.Unmarshal([]byte(d.Payload), &p)
		if p.Data["id"] != ten.ID || p.Data["status"] != "expired" || p.Data["expires_at"] != ten.ExpiresAt.UTC().Format(time.RFC3339) ||
			p.Data["actor"] != "the expiry reminders" || p.Data["hint"] != ten.Hint {
			t.Errorf("key.expired data: %v", p.Data)
		}
		if _, ok := p.Data["within"]; ok {
			t.Errorf("key.expired says within: %v", p.Data)
		}

		// A key whose expiry moves is reminded of the new one.
		moved := e.key(t, "Moved", 3*24*time.Hour)
		e.run(t)
		if got := names(e.deliveries(t, &seen)); !slices.Equal(got, []string{"key.expiring Moved 7d"}) {
			t.Errorf("a key created 3 days from its expiry: %v", got)
		}
		later := e.clock.Now().Add(5 * 24 * time.Hour).Format(time.DateOnly)
		if _, err := e.keys.Update(ctx, e.org, moved.ID, apikey.Input{Description: "Moved", ExpiresAt: later}, e.admin); err != nil {
			t.Fatal(err)
		}
		e.run(t)
		if got := names(e.deliveries(t, &seen)); !slices.Equal(got, []string{"key.expiring Moved 7d"}) {
			t.Errorf("after moving the expiry: %v", got)
		}
		_ = old
	})
}

// TestIdle: a key unused for the idle period (a key never used counts from
// its creation) is announced once by key.idle, again only after it is used
// and idle again; disabled keys and organizations without an idle period
// are left alone; with the disable option the key stops on every server
// and the audit log names the idle policy.
func TestIdle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		if _, err := e.orgs.SetKeyPolicy(ctx, e.org, org.KeyPolicy{IdleDays: 30}, e.admin); err != nil {
			t.Fatal(err)
		}
		never := e.key(t, "Never used", 0)
		used := e.key(t, "Used", 0)
		paused := e.key(t, "Paused", 0)
		if _, err := e.keys.Disable(ctx, e.org, paused.ID, e.admin); err != nil {
			t.Fatal(err)
		}
		useAt := func(id string, at time.Time) {
			t.Helper()
			if err := db.Model(&apikey.Key{}).Where("id = ?", id).Update("last_used_at", at.UTC()).Error; err != nil {
				t.Fatal(err)
			}
		}
		seen := 0
		e.deliveries(t, &seen)
		e.clock.Advance(20 * 24 * time.Hour)
		useAt(used.ID, e.clock.Now())
		e.clock.Advance(10*24*time.Hour - time.Minute)
		if res := e.run(t); res.Idle != 0 {
			t.Errorf("a minute early: %+v", res)
		}
		e.clock.Advance(time.Minute)
		for i := range 2 {
			res := e.run(t)
			got := e.deliveries(t, &seen)
			if i == 0 && (res.Idle != 1 || !slices.Equal(names(got), []string{"key.idle Never used"})) {
				t.Errorf("after 30 days: %+v %v", res, names(got))
			}
			if i == 1 && (res.Idle != 0 || len(got) != 0) {
				t.Errorf("run again: %+v %v", res, names(got))
			}
			if i == 0 && len(got) == 1 {
				d := got[0].Data
				if d["idle_since"] != never.CreatedAt.UTC().Format(time.RFC3339) || d["idle_days"] != 30.0 || d["disabled"] != false || d["status"] != "active" {
					t.Errorf("key.idle data: %v", d)
				}
			}
		}
		e.clock.Advance(20 * 24 * time.Hour)
		e.run(t)
		if got := names(e.deliveries(t, &seen)); !slices.Equal(got, []string{"key.idle Used"}) {
			t.Errorf("the used key, 30 days after its use: %v", got)
		}
		// Used again, then idle again: announced again.
		useAt(never.ID, e.clock.Now())
		e.clock.Advance(31 * 24 * time.Hour)
		e.run(t)
		if got := names(e.deliveries(t, &seen)); !slices.Equal(got, []string{"key.idle Never used"}) {
			t.Errorf("idle again after a use: %v", got)
		}

		// With the disable option, a key becoming idle stops at once.
		if _, err := e.orgs.SetKeyPolicy(ctx, e.org, org.KeyPolicy{IdleDays: 30, IdleDisable: true}, e.admin); err != nil {
			t.Fatal(err)
		}
		fresh := e.key(t, "Fresh", 0)
		e.takeChanged()
		e.clock.Advance(30 * 24 * time.Hour)
		res := e.run(t)
		got := e.deliveries(t, &seen)
		if res.Idle != 1 || res.Disabled != 1 || !slices.Equal(names(got), []string{"key.disabled Fresh", "key.idle Fresh"}) {
			t.Fatalf("with the disable option: %+v %v", res, names(got))
		}
		if d := got[1].Data; d["disabled"] != true || d["status"] != "disabled" || d["actor"] != "the idle policy" {
			t.Errorf("key.idle data: %v", d)
		}
		k, err := e.keys.Get(ctx, e.org, fresh.ID)
		if err != nil || k.DisabledAt == nil {
			t.Fatalf("the idle key is not disabled: %+v, %v", k, err)
		}
		if ch := e.takeChanged(); len(ch) != 1 || !bytes.Equal(ch[0], fresh.KeyHash) {
			t.Errorf("servers told of %d hashes, want the idle key's", len(ch))
		}
		var summaries []string
		db.Table("audit_events").Where("org_id = ? AND action = ? AND target_id = ?", e.org, audit.KeyDisabled, fresh.ID).Pluck("summary", &summaries)
		if want := fmt.Sprintf("the idle policy disabled, as it was unused for 30 days, %s (Fresh)", fresh.Hint); !slices.Equal(summaries, []string{want}) {
			t.Errorf("audit: %q", summaries)
		}
		// The keys already announced stay as they are; the paused key was
		// never announced.
		for _, id := range []string{never.ID, used.ID} {
			if k, _ := e.keys.Get(ctx, e.org, id); k.DisabledAt != nil {
				t.Errorf("key %s was announced before the option and is now disabled", k.Description)
			}
		}
		var pausedEvents int64
		db.Model(&webhook.Delivery{}).Where("event_type = ? AND payload LIKE ?", "key.idle", "%"+paused.ID+"%").Count(&pausedEvents)
		if pausedEvents != 0 {
			t.Errorf("the disabled key was announced idle")
		}

		// Without an idle period nothing is flagged.
		if _, err := e.orgs.SetKeyPolicy(ctx, e.org, org.KeyPolicy{}, e.admin); err != nil {
			t.Fatal(err)
		}
		e.key(t, "Unwatched", 0)
		e.clock.Advance(400 * 24 * time.Hour)
		if res := e.run(t); res.Idle != 0 {
			t.Errorf("without an idle period: %+v", res)
		}
	})
}

// TestTwoReplicas: two servers with their own connections run the job at
// the same time, over and over; every reminder and idle event is queued
// exactly once, and each idle key disabled once.
func TestTwoReplicas(t *testing.T) {
	dsn, _ := storetest.SchemaURL(t)
	open := func() *store.DB {
		db, err := store.Open(context.Background(), store.Options{DatabaseURL: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open()
	e := newEnv(t, db)
	ctx := context.Background()
	if _, err := e.orgs.SetKeyPolicy(ctx, e.org, org.KeyPolicy{IdleDays: 5, IdleDisable: true}, e.admin); err != nil {
		t.Fatal(err)
	}
	const n = 15
	for i := range n {
		e.key(t, fmt.Sprintf("Expiring %d", i), 6*24*time.Hour+time.Duration(i)*time.Minute)
		e.key(t, fmt.Sprintf("Idle %d", i), 0)
	}
	other := e.addReplica(open())
	e.clock.Advance(5 * 24 * time.Hour)
	e.takeChanged()
	var wg sync.WaitGroup
	results := make(chan lifecycle.Result, 20)
	for _, job := range []*lifecycle.Job{e.job, other.job} {
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := job.RunOnce(ctx)
				if err != nil {
					t.Error(err)
				}
				results <- res
			}()
		}
	}
	wg.Wait()
	close(results)
	var total lifecycle.Result
	for r := range results {
		total.Expiring += r.Expiring
		total.Idle += r.Idle
		total.Disabled += r.Disabled
	}
	// Each expiring key is reminded once (7 days or 1 day before), and
	// every key is idle: the expiring ones too, as none was used.
	if total.Expiring != n || total.Idle != 2*n || total.Disabled != 2*n {
		t.Errorf("runs together did %+v, want %d expiring and %d idle and disabled", total, n, 2*n)
	}
	var rows []struct {
		EventType string
		N         int
	}
	db.Model(&webhook.Delivery{}).Select("event_type, count(*) AS n").Group("event_type").Order("event_type").Scan(&rows)
	want := fmt.Sprintf("[{key.created %d} {key.disabled %d} {key.expiring %d} {key.idle %d}]", 2*n, 2*n, n, 2*n)
	if got := fmt.Sprint(rows); got != want {
		t.Errorf("deliveries %s, want %s", got, want)
	}
	var reminders int64
	db.Table("key_reminders").Count(&reminders)
	if reminders != 3*n {
		t.Errorf("%d reminder rows, want %d", reminders, 3*n)
	}
	var disabled int64
	db.Table("audit_events").Where("action = ?", audit.KeyDisabled).Count(&disabled)
	if disabled != 2*n {
		t.Errorf("%d disable audit events, want %d", disabled, 2*n)
	}
	if ch := e.takeChanged(); len(ch) != 2*n {
		t.Errorf("servers told of %d changes, want %d", len(ch), 2*n)
	}
}

// TestRunStops: Run runs at once and returns when its context ends.
func TestRunStops(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.key(t, "Soon", 2*24*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.job.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int64
		e.db.Table("key_reminders").Count(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not run at once")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
