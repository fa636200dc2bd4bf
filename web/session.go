package web

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
)

// SessionStore is a gorilla/sessions store that keeps sessions in the
// database: the cookie carries only a signed random token; logout, password
// changes and disabling a user delete the record, so a copied cookie stops
// working.
type SessionStore struct {
	accounts *account.Service
	codec    securecookie.Codec
	// pendingCodec signs and encrypts the pending sign-in cookie.
	pendingCodec *securecookie.SecureCookie
	limits       account.SessionLimits
	options      sessions.Options
	name         string
	ipOf         func(*http.Request) string
}

// Keys of session values.
const (
	sessUserID = "user_id"
	// sessSignedInWith is how the session's user proved who they are,
	// when not with a password: "sso".
	sessSignedInWith = "signed_in_with"
	sessFlash        = "_flash"
)

type sessRecordKey struct{}
type sessUserKey struct{}
type sessTokenKey struct{}

// sessPortalKey marks a new session as started from a portal link.
type sessPortalKey struct{}

// NewSessionStore returns a store whose cookies are signed with secret and
// marked Secure when secure is true (then also named with the __Host- prefix);
// ipOf tells the client address recorded with each session.
func NewSessionStore(accounts *account.Service, secret []byte, limits account.SessionLimits, secure bool, ipOf func(*http.Request) string) *SessionStore {
	hashKey := sha256.Sum256(append([]byte("keyplane session cookie\x00"), secret...))
	codec := securecookie.New(hashKey[:], nil)
	codec.MaxAge(int(limits.Max.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	pendingHash := sha256.Sum256(append([]byte("keyplane pending sign-in mac\x00"), secret...))
	pendingBlock := sha256.Sum256(append([]byte("keyplane pending sign-in enc\x00"), secret...))
	pending := securecookie.New(pendingHash[:], pendingBlock[:])
	pending.MaxAge(int(pendingMaxAge.Seconds()))
	pending.SetSerializer(securecookie.JSONEncoder{})
	name := "kp_session"
	if secure {
		name = "__Host-kp_session"
	}
	return &SessionStore{
		accounts: accounts, codec: codec, pendingCodec: pending, limits: limits, name: name, ipOf: ipOf,
		options: sessions.Options{Path: "/", MaxAge: int(limits.Max.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode},
	}
}

// CookieName is the session cookie's name.
func (st *SessionStore) CookieName() string { return st.name }

// Get returns the request's session, cached for the request's lifetime.
func (st *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(st, name)
}

// New loads the session named by the request's cookie, or returns a new,
// empty one when there is none or it has ended.
func (st *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(st, name)
	opts := st.options
	sess.Options = &opts
	sess.IsNew = true
	cookie, err := r.Cookie(name)
	if err != nil || len(cookie.Value) > 4096 {
		return sess, nil
	}
	var token string
	if err := st.codec.Decode(name, cookie.Value, &token); err != nil {
		return sess, nil
	}
	rec, user, err := st.accounts.LookupSession(r.Context(), token, st.limits)
	if apperr.Is(err, apperr.Unauthorized) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	var data map[string]any
	if json.Unmarshal([]byte(rec.Data), &data) == nil {
		for k, v := range data {
			sess.Values[k] = v
		}
	}
	sess.ID = rec.ID
	sess.IsNew = false
	sess.Values[sessUserID] = user.ID
	sess.Values[sessRecordKey{}] = &rec
	sess.Values[sessUserKey{}] = &user
	sess.Values[sessTokenKey{}] = token
	return sess, nil
}

// Save writes the session: a new session with a user gets a fresh record and
// token; an existing one saves its data; MaxAge < 0 deletes the record and
// the cookie.
func (st *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	token, _ := sess.Values[sessTokenKey{}].(string)
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if token != "" {
			if err := st.accounts.DeleteSession(r.Context(), token); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.IsNew {
		userID, _ := sess.Values[sessUserID].(string)
		if userID == "" {
			return nil
		}
		var newToken string
		var rec account.Session
		var err error
		if p, ok := sess.Values[sessPortalKey{}].(*account.Portal); ok {
			newToken, rec, err = st.accounts.CreatePortalSession(r.Context(), userID, st.ipOf(r), r.UserAgent(), st.limits, *p)
		} else {
			newToken, rec, err = st.accounts.CreateSession(r.Context(), userID, st.ipOf(r), r.UserAgent(), st.limits)
		}
		if err != nil {
			return err
		}
		encoded, err := st.codec.Encode(sess.Name(), newToken)
		if err != nil {
			return err
		}
		sess.ID = rec.ID
		sess.IsNew = false
		sess.Values[sessTokenKey{}] = newToken
		sess.Values[sessRecordKey{}] = &rec
		http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
		return nil
	}
	data := map[string]any{}
	for k, v := range sess.Values {
		if ks, ok := k.(string); ok && ks != sessUserID {
			data[ks] = v
		}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return st.accounts.SaveSessionData(r.Context(), sess.ID, string(b))
}

// startedKey holds, in the request's context, the session login started.
const startedKey = "kp_started_session"

// current returns the request's session: the one login started during
// this request, else the one its cookie names.
func (st *SessionStore) current(c echo.Context) (*sessions.Session, error) {
	if sess, ok := c.Get(startedKey).(*sessions.Session); ok {
		return sess, nil
	}
	return st.Get(c.Request(), st.name)
}

// login ends the request's current session, if any, and starts a new one for
// userID with a new token, so a session id planted before login is useless.
// With portal, the new session is marked as started from a portal link.
func (st *SessionStore) login(c echo.Context, userID string, portal *account.Portal) error {
	if old, err := st.current(c); err == nil && !old.IsNew {
		old.Options.MaxAge = -1
		if err := old.Save(c.Request(), c.Response()); err != nil {
			return err
		}
	}
	sess := sessions.NewSession(st, st.name)
	opts := st.options
	sess.Options = &opts
	sess.IsNew = true
	sess.Values[sessUserID] = userID
	if portal != nil {
		sess.Values[sessPortalKey{}] = portal
	}
	if err := st.Save(c.Request(), c.Response(), sess); err != nil {
		return err
	}
	c.Set(startedKey, sess)
	return nil
}

// markSignedInWith records on the request's session, just started, how its
// user signed in.
func (st *SessionStore) markSignedInWith(c echo.Context, method string) error {
	sess, err := st.current(c)
	if err != nil {
		return err
	}
	sess.Values[sessSignedInWith] = method
	return sess.Save(c.Request(), c.Response())
}

// signedInWith is how the request's session began: "sso", or "" for a
// password (with its second factor, where the user has one).
func (st *SessionStore) signedInWith(c echo.Context) string {
	sess, err := st.current(c)
	if err != nil || sess.IsNew {
		return ""
	}
	m, _ := sess.Values[sessSignedInWith].(string)
	return m
}

// logout deletes the request's session record and cookie.
func (st *SessionStore) logout(c echo.Context) error {
	sess, err := st.current(c)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	return sess.Save(c.Request(), c.Response())
}

// addFlash queues a one-time message for the next page of this session.
func (st *SessionStore) addFlash(c echo.Context, msg string) {
	sess, err := st.current(c)
	if err != nil || sess.IsNew {
		return
	}
	sess.AddFlash(msg)
	sess.Save(c.Request(), c.Response())
}

// flashes returns and clears the queued messages.
func (st *SessionStore) flashes(c echo.Context) []string {
	sess, err := st.current(c)
	if err != nil || sess.IsNew {
		return nil
	}
	raw := sess.Flashes()
	if len(raw) == 0 {
		return nil
	}
	sess.Save(c.Request(), c.Response())
	out := make([]string, 0, len(raw))
	for _, f := range raw {
		if s, ok := f.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// pendingSignIn is a sign-in whose first factor (the password) was right
// and whose second is still to come. It lives only in a short-lived,
// encrypted and signed cookie: no session exists yet, so it grants no page.
type pendingSignIn struct {
	UserID string `json:"u"`
	// Method is how the first factor was given (signInPassword).
	Method string `json:"m"`
	// Next is the same-site path to land on once signed in (safeNext).
	// The cookie is encrypted, so a return path holding a secret (an
	// invitation's) is not readable in it.
	Next string `json:"n,omitempty"`
}

// pendingMaxAge bounds the time between the password and the code.
const pendingMaxAge = 10 * time.Minute

// pendingCookieName is the pending sign-in cookie's name.
func (st *SessionStore) pendingCookieName() string {
	if st.options.Secure {
		return "__Host-kp_signin"
	}
	return "kp_signin"
}

// setPending starts the second step of a sign-in for p.
func (st *SessionStore) setPending(c echo.Context, p pendingSignIn) error {
	v, err := st.pendingCodec.Encode(st.pendingCookieName(), p)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: st.pendingCookieName(), Value: v, Path: "/", MaxAge: int(pendingMaxAge.Seconds()),
		HttpOnly: true, Secure: st.options.Secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// pending returns the request's pending sign-in, or false when there is
// none or it is too old or forged.
func (st *SessionStore) pending(c echo.Context) (pendingSignIn, bool) {
	var p pendingSignIn
	ck, err := c.Cookie(st.pendingCookieName())
	if err != nil || len(ck.Value) > 4096 {
		return p, false
	}
	if err := st.pendingCodec.Decode(st.pendingCookieName(), ck.Value, &p); err != nil || p.UserID == "" {
		return pendingSignIn{}, false
	}
	return p, true
}

// clearPending ends the pending sign-in.
func (st *SessionStore) clearPending(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: st.pendingCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: st.options.Secure, SameSite: http.SameSiteLaxMode,
	})
}
