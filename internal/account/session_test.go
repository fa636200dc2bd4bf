package account_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/clocktest"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// newFakeClock returns a clock for a test and the code under test. It
// starts on a whole second so that PostgreSQL (microseconds) and Redis
// (milliseconds) store its times exactly.
func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
}

var testLimits = account.SessionLimits{Idle: 10 * time.Minute, Max: time.Hour}

const testPassword = "correct horse battery staple"

// cheapHash makes a Service hash passwords with TestHashParams.
var cheapHash = account.WithHashParams(account.TestHashParams)

// mustCreateUser stores a user with testPassword.
func mustCreateUser(t *testing.T, svc *account.Service, email string) account.User {
	t.Helper()
	u, err := svc.CreateUser(context.Background(), account.NewUser{Email: email, Name: "Test " + email, Password: testPassword})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func mustCreateSession(t *testing.T, svc *account.Service, userID string, limits account.SessionLimits) (string, account.Session) {
	t.Helper()
	token, sess, err := svc.CreateSession(context.Background(), userID, "203.0.113.7", "test-agent/1.0", limits)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return token, sess
}

func wantLive(t *testing.T, svc *account.Service, token string, limits account.SessionLimits) account.Session {
	t.Helper()
	sess, _, err := svc.LookupSession(context.Background(), token, limits)
	if err != nil {
		t.Fatalf("LookupSession: %v, want a live session", err)
	}
	return sess
}

func wantGone(t *testing.T, svc *account.Service, token string, limits account.SessionLimits) {
	t.Helper()
	sess, u, err := svc.LookupSession(context.Background(), token, limits)
	if !apperr.Is(err, apperr.Unauthorized) {
		t.Fatalf("LookupSession = %v, want Unauthorized", err)
	}
	if sess.ID != "" || u.ID != "" {
		t.Errorf("LookupSession returned session %q and user %q alongside its error", sess.ID, u.ID)
	}
}

func sessionRows(t *testing.T, db *store.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&account.Session{}).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return n
}

func storedSession(t *testing.T, db *store.DB, id string) account.Session {
	t.Helper()
	var s account.Session
	if err := db.Where("id = ?", id).Take(&s).Error; err != nil {
		t.Fatalf("read session %s: %v", id, err)
	}
	return s
}

func TestCreateSessionStoresOnlyTheTokenHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")

		token, sess, err := svc.CreateSession(ctx, u.ID, "2001:db8::1", "Mozilla/5.0 (test)", testLimits)
		if err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) < 32 {
			t.Fatalf("token %q is not 32+ random bytes in base64url (%v)", token, err)
		}
		sum := sha256.Sum256([]byte(token))
		if !bytes.Equal(sess.TokenHash, sum[:]) {
			t.Errorf("returned TokenHash = %x, want SHA-256 of the token %x", sess.TokenHash, sum)
		}
		now := clk.Now()
		if sess.UserID != u.ID || sess.IP != "2001:db8::1" || sess.UserAgent != "Mozilla/5.0 (test)" ||
			!sess.CreatedAt.Equal(now) || !sess.LastSeenAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(testLimits.Max)) {
			t.Errorf("session = %+v, want user %s, IP, agent, created=last seen=%v, expires %v", sess, u.ID, now, now.Add(testLimits.Max))
		}

		rows, err := db.Raw("SELECT * FROM sessions").Rows()
		if err != nil {
			t.Fatalf("select sessions: %v", err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatalf("columns: %v", err)
		}
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan: %v", err)
			}
			for i, v := range vals {
				var text string
				switch v := v.(type) {
				case []byte:
					text = string(v) + " " + hex.EncodeToString(v) + " " + base64.StdEncoding.EncodeToString(v)
					if cols[i] == "token_hash" && !bytes.Equal(v, sum[:]) {
						t.Errorf("token_hash = %x, want SHA-256 of the token %x", v, sum)
					}
				default:
					text = fmt.Sprint(v)
				}
				if strings.Contains(text, token) {
					t.Errorf("column %s holds the plaintext token", cols[i])
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if n != 1 {
			t.Fatalf("sessions table has %d rows, want 1", n)
		}
	})
}

func TestCreateSessionTruncatesUserAgent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		tests := []struct {
			name, agent string
		}{
			{"ascii", strings.Repeat("a", 600)},
			{"multibyte rune across byte 512", strings.Repeat("a", 511) + strings.Repeat("é", 20)},
			{"invalid UTF-8", "agent\xff\xfe" + strings.Repeat("b", 10)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				token, _, err := svc.CreateSession(context.Background(), u.ID, "198.51.100.1", tt.agent, testLimits)
				if err != nil {
					t.Fatalf("CreateSession: %v", err)
				}
				got := wantLive(t, svc, token, testLimits).UserAgent
				if len(got) > 512 || !utf8.ValidString(got) {
					t.Errorf("stored agent has %d bytes, valid UTF-8 %v; want at most 512 valid", len(got), utf8.ValidString(got))
				}
				if len(tt.agent) > 512 && len(got) < 500 {
					t.Errorf("stored agent has only %d bytes of %d", len(got), len(tt.agent))
				}
			})
		}
	})
}

func TestLookupSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		token, created := mustCreateSession(t, svc, u.ID, testLimits)

		sess, user, err := svc.LookupSession(ctx, token, testLimits)
		if err != nil {
			t.Fatalf("LookupSession: %v", err)
		}
		if sess.ID != created.ID || user.ID != u.ID || user.Email != "alice@example.com" {
			t.Errorf("LookupSession = session %s user %s (%s), want %s and %s", sess.ID, user.ID, user.Email, created.ID, u.ID)
		}
		for _, bad := range []string{"", "x", token + "x", strings.ToUpper(token), strings.Repeat("a", 101)} {
			wantGone(t, svc, bad, testLimits)
		}
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		token, sess := mustCreateSession(t, svc, u.ID, testLimits)

		clk.Advance(testLimits.Idle - time.Second)
		wantLive(t, svc, token, testLimits)
		// That use moved last seen: another almost-idle stretch is fine.
		clk.Advance(testLimits.Idle - time.Second)
		wantLive(t, svc, token, testLimits)

		clk.Advance(testLimits.Idle)
		wantGone(t, svc, token, testLimits)
		if n := sessionRows(t, db, "id = ?", sess.ID); n != 0 {
			t.Errorf("idle session still has %d rows, want it deleted", n)
		}
	})
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		limits := account.SessionLimits{Idle: 3 * time.Minute, Max: 10 * time.Minute}
		token, sess := mustCreateSession(t, svc, u.ID, limits)

		minutes := int(limits.Max / time.Minute)
		for i := 1; i < minutes; i++ {
			clk.Advance(time.Minute)
			if _, _, err := svc.LookupSession(context.Background(), token, limits); err != nil {
				t.Fatalf("minute %d of %d: LookupSession: %v", i, minutes, err)
			}
		}
		clk.Advance(time.Minute)
		wantGone(t, svc, token, limits)
		if n := sessionRows(t, db, "id = ?", sess.ID); n != 0 {
			t.Errorf("session past its lifetime still has %d rows, want it deleted", n)
		}
	})
}

func TestSessionLastSeenWrittenAtMostOnceAMinute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		token, sess := mustCreateSession(t, svc, u.ID, testLimits)
		start := clk.Now()

		clk.Advance(30 * time.Second)
		if got := wantLive(t, svc, token, testLimits).LastSeenAt; !got.Equal(start) {
			t.Errorf("after 30s returned last seen = %v, want %v", got, start)
		}
		if got := storedSession(t, db, sess.ID).LastSeenAt; !got.Equal(start) {
			t.Errorf("after 30s stored last seen = %v, want unchanged %v", got, start)
		}

		clk.Advance(31 * time.Second)
		now := clk.Now()
		if got := wantLive(t, svc, token, testLimits).LastSeenAt; !got.Equal(now) {
			t.Errorf("after 61s returned last seen = %v, want %v", got, now)
		}
		if got := storedSession(t, db, sess.ID).LastSeenAt; !got.Equal(now) {
			t.Errorf("after 61s stored last seen = %v, want %v", got, now)
		}
	})
}

func TestDeleteSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")
		token, _ := mustCreateSession(t, svc, u.ID, testLimits)
		other, _ := mustCreateSession(t, svc, u.ID, testLimits)

		if err := svc.DeleteSession(context.Background(), token); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		wantGone(t, svc, token, testLimits)
		wantLive(t, svc, other, testLimits)
		if err := svc.DeleteSession(context.Background(), token); err != nil {
			t.Errorf("DeleteSession of an ended session: %v, want nil", err)
		}
	})
}

func TestDeleteUserSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")
		t1, _ := mustCreateSession(t, svc, alice.ID, testLimits)
		t2, keep := mustCreateSession(t, svc, alice.ID, testLimits)
		t3, _ := mustCreateSession(t, svc, alice.ID, testLimits)
		tb, _ := mustCreateSession(t, svc, bob.ID, testLimits)

		if err := svc.DeleteUserSessions(ctx, alice.ID, keep.ID); err != nil {
			t.Fatalf("DeleteUserSessions: %v", err)
		}
		wantGone(t, svc, t1, testLimits)
		wantGone(t, svc, t3, testLimits)
		if got := wantLive(t, svc, t2, testLimits); got.ID != keep.ID {
			t.Errorf("kept session = %s, want %s", got.ID, keep.ID)
		}
		wantLive(t, svc, tb, testLimits)
		if n := sessionRows(t, db, "user_id = ?", alice.ID); n != 1 {
			t.Errorf("alice has %d sessions, want 1", n)
		}

		if err := svc.DeleteUserSessions(ctx, alice.ID, ""); err != nil {
			t.Fatalf("DeleteUserSessions without exception: %v", err)
		}
		wantGone(t, svc, t2, testLimits)
		wantLive(t, svc, tb, testLimits)
	})
}

func TestListSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")

		_, s1 := mustCreateSession(t, svc, alice.ID, account.SessionLimits{Idle: time.Hour, Max: 15 * time.Minute})
		clk.Advance(5 * time.Minute)
		_, s2 := mustCreateSession(t, svc, alice.ID, testLimits)
		mustCreateSession(t, svc, bob.ID, testLimits)
		clk.Advance(5 * time.Minute)
		_, s3 := mustCreateSession(t, svc, alice.ID, testLimits)

		ids := func(limits account.SessionLimits) []string {
			t.Helper()
			list, err := svc.ListSessions(ctx, alice.ID, limits)
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			var ids []string
			for _, s := range list {
				if s.UserID != alice.ID {
					t.Errorf("listed session %s of user %s", s.ID, s.UserID)
				}
				ids = append(ids, s.ID)
			}
			return ids
		}
		long := account.SessionLimits{Idle: time.Hour, Max: time.Hour}
		if got, want := ids(long), []string{s3.ID, s2.ID, s1.ID}; !slices.Equal(got, want) {
			t.Errorf("ListSessions = %v, want newest first %v", got, want)
		}
		// s1 has been idle for exactly testLimits.Idle: LookupSession refuses it.
		if got, want := ids(testLimits), []string{s3.ID, s2.ID}; !slices.Equal(got, want) {
			t.Errorf("ListSessions with s1 idle-expired = %v, want %v", got, want)
		}
		clk.Advance(5 * time.Minute) // s1 reaches its lifetime
		if got, want := ids(long), []string{s3.ID, s2.ID}; !slices.Equal(got, want) {
			t.Errorf("ListSessions after s1 expired = %v, want %v", got, want)
		}
		// s2 has been idle for 10 minutes, s3 for 5.
		if got, want := ids(testLimits), []string{s3.ID}; !slices.Equal(got, want) {
			t.Errorf("ListSessions after s2 went idle = %v, want %v", got, want)
		}
	})
}

func TestPruneSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newFakeClock()
		svc := account.NewService(db, clk.Now, cheapHash)
		u := mustCreateUser(t, svc, "alice@example.com")

		_, idle := mustCreateSession(t, svc, u.ID, testLimits)
		live, kept := mustCreateSession(t, svc, u.ID, testLimits)
		short, _ := mustCreateSession(t, svc, u.ID, account.SessionLimits{Idle: testLimits.Idle, Max: 12 * time.Minute})

		if n, err := svc.PruneSessions(ctx, testLimits); err != nil || n != 0 {
			t.Fatalf("PruneSessions with nothing expired = %d, %v; want 0", n, err)
		}
		clk.Advance(9 * time.Minute)
		wantLive(t, svc, live, testLimits)
		wantLive(t, svc, short, testLimits)
		clk.Advance(3 * time.Minute) // idle: 12 min unused; short: at its lifetime

		n, err := svc.PruneSessions(ctx, testLimits)
		if err != nil {
			t.Fatalf("PruneSessions: %v", err)
		}
		if n != 2 {
			t.Errorf("PruneSessions = %d, want 2", n)
		}
		if got := sessionRows(t, db, "user_id = ?", u.ID); got != 1 {
			t.Errorf("%d sessions left, want 1", got)
		}
		if sessionRows(t, db, "id = ?", kept.ID) != 1 || sessionRows(t, db, "id = ?", idle.ID) != 0 {
			t.Errorf("prune removed the wrong sessions")
		}
		if n, err := svc.PruneSessions(ctx, testLimits); err != nil || n != 0 {
			t.Errorf("second PruneSessions = %d, %v; want 0", n, err)
		}
	})
}

func TestRevokeSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := account.NewService(db, newFakeClock().Now, cheapHash)
		alice := mustCreateUser(t, svc, "alice@example.com")
		bob := mustCreateUser(t, svc, "bob@example.com")
		ta, sa := mustCreateSession(t, svc, alice.ID, testLimits)
		tb, sb := mustCreateSession(t, svc, bob.ID, testLimits)

		if err := svc.RevokeSession(ctx, alice.ID, sb.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("RevokeSession of another user's session = %v, want NotFound", err)
		}
		wantLive(t, svc, tb, testLimits)
		for _, id := range []string{store.NewID(), "not-a-uuid", ""} {
			if err := svc.RevokeSession(ctx, alice.ID, id); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("RevokeSession(%q) = %v, want NotFound", id, err)
			}
		}
		if err := svc.RevokeSession(ctx, alice.ID, sa.ID); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		wantGone(t, svc, ta, testLimits)
		if err := svc.RevokeSession(ctx, alice.ID, sa.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("second RevokeSession = %v, want NotFound", err)
		}
	})
}
