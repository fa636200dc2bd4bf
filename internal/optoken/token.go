package optoken

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/store"
)

// TouchEvery is how often, at most, a token's last use is written.
const TouchEvery = time.Minute

// Token is an operator token as stored: everything but the token itself.
type Token struct {
	ID         string
	Name       string
	TokenHash  []byte
	Hint       string
	ExpiresAt  *time.Time
	IPs        apikey.List `gorm:"column:ips"`
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	LastUsedIP string `gorm:"column:last_used_ip"`
	RevokedAt  *time.Time
}

// TableName maps Token to its table.
func (Token) TableName() string { return "operator_tokens" }

// Statuses of a token.
const (
	Active  = "active"
	Expired = "expired"
	Revoked = "revoked"
)

// Status is active, expired or revoked at now.
func (t Token) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return Revoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return Expired
	}
	return Active
}

// Input is what a new token is made of.
type Input struct {
	Name string
	// ExpiresIn is the token's lifetime; zero never expires.
	ExpiresIn time.Duration
	// IPs are addresses or CIDR ranges the token may be used from; none
	// allows any.
	IPs []string
	// CreatedBy names who made it: an operator's email, or the command line.
	CreatedBy string
}

// Service creates, lists, revokes and authenticates operator tokens. Its
// methods join the transaction their ctx carries (store.DB.WithTx).
type Service struct {
	db     *store.DB
	prefix string
	now    func() time.Time
}

// NewService returns a Service for tokens with prefix (KEYPLANE_KEY_PREFIX);
// now is the clock (time.Now when nil).
func NewService(db *store.DB, prefix string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, prefix: prefix, now: now}
}

// Create makes a token and returns it, the only time it is ever seen, with
// its row. Returns Invalid naming name, expires_in or ips.
func (s *Service) Create(ctx context.Context, in Input) (string, Token, error) {
	in.Name = strings.TrimSpace(in.Name)
	ips, fields := in.check()
	if len(fields) > 0 {
		return "", Token{}, apperr.InvalidFields(fields)
	}
	secret, err := Generate(nil, s.prefix)
	if err != nil {
		return "", Token{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	t := Token{
		ID: store.NewID(), Name: in.Name, TokenHash: Hash(secret), Hint: Hint(secret),
		IPs: ips, CreatedBy: store.Text(in.CreatedBy, 254), CreatedAt: now,
	}
	if in.ExpiresIn > 0 {
		at := now.Add(in.ExpiresIn)
		t.ExpiresAt = &at
	}
	if err := s.db.Conn(ctx).Create(&t).Error; err != nil {
		return "", Token{}, fmt.Errorf("optoken: create: %w", err)
	}
	return secret, t, nil
}

// Check returns a message for each wrong field of in (name, expires_in,
// ips), or nil.
func (in Input) Check() map[string]string {
	_, fields := in.check()
	return fields
}

func (in Input) check() (apikey.List, map[string]string) {
	fields := map[string]string{}
	switch n := utf8.RuneCountInString(strings.TrimSpace(in.Name)); {
	case n == 0:
		fields["name"] = "Enter a name."
	case n > 100:
		fields["name"] = "Use at most 100 characters."
	}
	if in.ExpiresIn < 0 {
		fields["expires_in"] = "Enter a positive duration, like 90d."
	}
	ips, msg := ParseIPs(in.IPs)
	if msg != "" {
		fields["ips"] = msg
	}
	if len(fields) == 0 {
		return ips, nil
	}
	return ips, fields
}

// ParseIPs checks an allowlist of addresses and CIDR ranges and returns it
// as ranges, or a message for the field.
func ParseIPs(list []string) (apikey.List, string) {
	var out apikey.List
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
			p = p.Masked()
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil && a.Zone() != "" {
				err = fmt.Errorf("zone")
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return nil, fmt.Sprintf("%q is not an IP address or CIDR range, like 203.0.113.0/24.", s)
		}
		out = append(out, p.String())
	}
	return out, ""
}

// List returns every token, newest first.
func (s *Service) List(ctx context.Context) ([]Token, error) {
	var list []Token
	if err := s.db.Conn(ctx).Order("created_at DESC, id DESC").Find(&list).Error; err != nil {
		return nil, fmt.Errorf("optoken: list: %w", err)
	}
	return list, nil
}

// Get returns the token id, or NotFound.
func (s *Service) Get(ctx context.Context, id string) (Token, error) {
	var t Token
	if !store.ValidID(id) {
		return Token{}, apperr.New(apperr.NotFound, "Token not found.")
	}
	err := s.db.Conn(ctx).Where("id = ?", id).Take(&t).Error
	if store.IsNotFound(err) {
		return Token{}, apperr.New(apperr.NotFound, "Token not found.")
	}
	if err != nil {
		return Token{}, fmt.Errorf("optoken: get: %w", err)
	}
	return t, nil
}

// Revoke ends the token id for good; its next request is refused. Returns
// NotFound for an unknown id and Conflict when it is already revoked.
func (s *Service) Revoke(ctx context.Context, id string) (Token, error) {
	t, err := s.Get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	now := s.now().UTC()
	res := s.db.Conn(ctx).Model(&Token{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
	if res.Error != nil {
		return Token{}, fmt.Errorf("optoken: revoke: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return Token{}, apperr.New(apperr.Conflict, "This token is already revoked.")
	}
	t.RevokedAt = &now
	return t, nil
}

// Authenticate returns the token whose text is token, used from ip, and
// records the use (at most every TouchEvery). A malformed, unknown,
// revoked or expired token, or one used from outside its allowlist,
// returns Unauthorized; the message says which, never the token.
func (s *Service) Authenticate(ctx context.Context, token string, ip netip.Addr) (Token, error) {
	if Parse(token, s.prefix) != nil {
		return Token{}, apperr.New(apperr.Unauthorized, "Send an operator token as Authorization: Bearer.")
	}
	hash := Hash(token)
	var t Token
	err := s.db.Conn(ctx).Where("token_hash = ?", hash).Take(&t).Error
	if store.IsNotFound(err) {
		return Token{}, apperr.New(apperr.Unauthorized, "This operator token is not valid.")
	}
	if err != nil {
		return Token{}, fmt.Errorf("optoken: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(t.TokenHash, hash) != 1 {
		return Token{}, apperr.New(apperr.Unauthorized, "This operator token is not valid.")
	}
	now := s.now().UTC()
	switch t.Status(now) {
	case Revoked:
		return Token{}, apperr.New(apperr.Unauthorized, "This operator token was revoked.")
	case Expired:
		return Token{}, apperr.New(apperr.Unauthorized, "This operator token has expired.")
	}
	if !allowed(t.IPs, ip) {
		return Token{}, apperr.New(apperr.Unauthorized, "This operator token may not be used from this address.")
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= TouchEvery {
		// The condition keeps concurrent requests to one write.
		res := s.db.Conn(ctx).Model(&Token{}).
			Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", t.ID, now.Add(-TouchEvery)).
			Updates(map[string]any{"last_used_at": now, "last_used_ip": ip.String()})
		if res.Error != nil {
			return Token{}, fmt.Errorf("optoken: record use: %w", res.Error)
		}
		if res.RowsAffected > 0 {
			t.LastUsedAt, t.LastUsedIP = &now, ip.String()
		}
	}
	return t, nil
}

func allowed(ips []string, ip netip.Addr) bool {
	if len(ips) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, s := range ips {
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}
