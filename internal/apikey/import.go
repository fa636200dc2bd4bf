package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/store"
)

// ImportLine is one key of an import: its plaintext (Key) or the SHA-256 a
// vendor stored of it (SHA256, 64 hex digits), with optional settings.
type ImportLine struct {
	Key         string   `json:"key"`
	SHA256      string   `json:"sha256"`
	Description string   `json:"description"`
	Environment string   `json:"environment"`
	Kind        string   `json:"kind"`
	Scopes      []string `json:"scopes"`
	Domains     []string `json:"domains"`
	IPs         []string `json:"ips"`
	ExpiresAt   string   `json:"expires_at"`
	CreatedAt   string   `json:"created_at"`
	LastUsedAt  string   `json:"last_used_at"`
	ExternalID  string   `json:"external_id"`
}

// Import is what an import brings into one organization and product.
// LegacyPrefixes are the starts of the product's keys of a vendor's old
// format that plaintext lines may have instead of the product's format.
// Declare, when set, runs inside the import's transaction before any key
// is written (declaring new legacy prefixes), so a failed import leaves
// nothing behind.
type Import struct {
	Product        string
	LegacyPrefixes []string
	Lines          []ImportLine
	Declare        func(ctx context.Context) error
}

// Imported says what an import did.
type Imported struct {
	Created int // keys stored now
	Existed int // keys that were there already, unchanged
}

// Limits of an import.
const (
	MaxExternalID = 200
	// DefaultImportDescription describes an imported key given none.
	DefaultImportDescription = "Imported key"
)

// BulkChange is the hash a change notice carries for keys added in bulk
// (an import): servers drop what they cached as unknown and reread the set
// of stored key hashes, instead of hearing of each key.
var BulkChange = func() []byte { h := sha256.Sum256([]byte("keyplane: many keys changed")); return h[:] }()

// AllChange is the hash a change notice carries when every key of an
// organization may verify differently (it was disabled or enabled):
// servers drop every key they cached, instead of hearing of each key.
var AllChange = func() []byte { h := sha256.Sum256([]byte("keyplane: any key may have changed")); return h[:] }()

// lineError is the Invalid error of line n (1-based): "line n: why".
func lineError(n int, format string, args ...any) error {
	return apperr.New(apperr.Invalid, "line %d: %s", n, fmt.Sprintf(format, args...))
}

// Import stores in's keys in orgID, all or none: every line is validated
// first, and the first bad one fails the import with Invalid "line N:
// reason". Keys stored already in orgID and the product change nothing
// (an import can be run again); a key of another organization or product
// fails its line. Imports ignore the per-organization limit, keep only
// hashes, and tell every server once, not once per key.
func (s *Service) Import(ctx context.Context, orgID string, in Import, actor audit.Actor) (Imported, error) {
	now := s.now().UTC()
	rules, err := s.Rules(in.Product)
	if err != nil {
		return Imported{}, err
	}
	keys := make([]Key, 0, len(in.Lines))
	lineOf := make(map[string]int, len(in.Lines))
	for i, l := range in.Lines {
		k, err := importKey(rules, in.LegacyPrefixes, l, now)
		if err != nil {
			return Imported{}, lineError(i+1, "%s", err.Error())
		}
		h := string(k.KeyHash)
		if first, dup := lineOf[h]; dup {
			return Imported{}, lineError(i+1, "the same key as line %d", first)
		}
		lineOf[h] = i + 1
		k.OrgID, k.Product, k.Source, k.CreatedByEmail = orgID, rules.Product, SourceImported, actor.Label()
		if actor.UserID != "" {
			k.CreatedByID = &actor.UserID
		}
		keys = append(keys, k)
	}
	var out Imported
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		if err := s.lockActiveOrg(tx, orgID); err != nil {
			return err
		}
		// Declared before the format is held: both lock the product, and
		// taking the stronger lock first keeps out of a deadlock with an
		// edit of the product.
		if in.Declare != nil {
			if err := in.Declare(ctx); err != nil {
				return err
			}
		}
		if err := s.holdFormat(tx, rules); err != nil {
			return err
		}
		existing := map[string]Key{}
		const chunk = 500
		for i := 0; i < len(keys); i += chunk {
			hashes := make([][]byte, 0, chunk)
			for _, k := range keys[i:min(i+chunk, len(keys))] {
				hashes = append(hashes, k.KeyHash)
			}
			var found []Key
			if err := tx.Select("id, org_id, product, key_hash").Where("key_hash IN ?", hashes).Find(&found).Error; err != nil {
				return fmt.Errorf("apikey: import: %w", err)
			}
			for _, f := range found {
				existing[string(f.KeyHash)] = f
			}
		}
		days, err := maxLifetime(tx, orgID)
		if err != nil {
			return err
		}
		fresh := make([]Key, 0, len(keys))
		for _, k := range keys {
			f, ok := existing[string(k.KeyHash)]
			switch {
			case !ok:
				// New keys here obey the maximum lifetime like any other.
				if err := checkLifetime(k.ExpiresAt, days, now); err != nil {
					return lineError(lineOf[string(k.KeyHash)], "expires_at: %s", apperr.FieldsOf(err)["expires_at"])
				}
				fresh = append(fresh, k)
			case f.OrgID != orgID:
				return lineError(lineOf[string(k.KeyHash)], "this key belongs to another organization")
			case f.Product != rules.Product:
				return lineError(lineOf[string(k.KeyHash)], "this key belongs to the product %s", f.Product)
			default:
				out.Existed++
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := tx.CreateInBatches(fresh, chunk).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "Some of these keys were stored meanwhile; run the import again.")
			}
			return fmt.Errorf("apikey: import: %w", err)
		}
		out.Created = len(fresh)
		if err := s.recordChange(tx, BulkChange, now); err != nil {
			return err
		}
		s.announce(ctx, BulkChange)
		return audit.Record(ctx, tx, now, orgID, actor, audit.KeysImported, "product", rules.Product,
			fmt.Sprintf("%s imported %d keys of %s (%d there already)", actor.Name(), out.Created, rules.Product, out.Existed))
	})
	if err != nil {
		return Imported{}, err
	}
	return out, nil
}

// importKey validates line l of product rules into a key to store, or
// says what is wrong with it.
func importKey(rules Rules, legacy []string, l ImportLine, now time.Time) (Key, error) {
	var k Key
	plain, sum := strings.TrimSpace(l.Key), strings.ToLower(strings.TrimSpace(l.SHA256))
	in := Input{
		Description: l.Description, Environment: l.Environment, Kind: l.Kind, Scopes: l.Scopes,
		Domains: strings.Join(l.Domains, "\n"), IPs: strings.Join(l.IPs, "\n"),
	}
	switch {
	case plain != "" && sum != "":
		return Key{}, fmt.Errorf("give key or sha256, not both")
	case plain != "":
		if strings.ContainsAny(plain, " \t\r\n") || len(plain) > 256 {
			return Key{}, fmt.Errorf("key is not a key: no spaces, at most 256 characters")
		}
		k.KeyHash = Hash(plain)
		if p, err := rules.Format.Parse(plain); err == nil {
			k.Hint = Hint(plain)
			if in.Environment != "" && in.Environment != string(p.Environment) {
				return Key{}, fmt.Errorf("environment %q does not match the key's own, %s", l.Environment, p.Environment)
			}
			in.Environment = string(p.Environment)
			if p.Kind != "" {
				if in.Kind != "" && in.Kind != string(p.Kind) {
					return Key{}, fmt.Errorf("kind %q does not match the key's own, %s", l.Kind, p.Kind)
				}
				in.Kind = string(p.Kind)
			}
		} else if prefix := longestPrefix(plain, legacy); prefix != "" {
			// A legacy key's secret may hold "_": name it by its prefix
			// and last 4 characters only.
			k.Hint = prefix + "…" + plain[max(len(prefix), len(plain)-4):]
		} else {
			return Key{}, fmt.Errorf("the key matches neither the product's format (%s) nor a legacy prefix", rules.Format)
		}
	case sum != "":
		b, err := hex.DecodeString(sum)
		if err != nil || len(b) != sha256.Size {
			return Key{}, fmt.Errorf("sha256 is not 64 hexadecimal digits")
		}
		k.KeyHash = b
		k.Hint = rules.Format.Lead() + "…"
		if len(legacy) == 1 {
			k.Hint = legacy[0] + "…"
		}
	default:
		return Key{}, fmt.Errorf("give key (the plaintext) or sha256 (its SHA-256 in hex)")
	}
	if strings.TrimSpace(in.Description) == "" {
		in.Description = DefaultImportDescription
	}
	if in.Environment == "" {
		in.Environment = string(Live)
	}
	if in.Kind == "" {
		in.Kind = string(Private)
	}
	if at, err := time.Parse(time.RFC3339, strings.TrimSpace(l.ExpiresAt)); err == nil {
		in.ExpiresAtTime = at
	} else {
		in.ExpiresAt = l.ExpiresAt
	}
	set, err := rules.Policy.Validate(in, now)
	if err != nil {
		fields := apperr.FieldsOf(err)
		for _, name := range []string{"description", "kind", "environment", "scopes", "domains", "ips", "expires_at", "rate_limit_per_minute", "block_minutes"} {
			if msg := fields[name]; msg != "" {
				return Key{}, fmt.Errorf("%s: %s", name, msg)
			}
		}
		return Key{}, err
	}
	if utf8.RuneCountInString(l.ExternalID) > MaxExternalID {
		return Key{}, fmt.Errorf("external_id: use at most %d characters", MaxExternalID)
	}
	created, lastUsed := now, (*time.Time)(nil)
	if s := strings.TrimSpace(l.CreatedAt); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.After(now) {
			return Key{}, fmt.Errorf("created_at: give an RFC 3339 time in the past")
		}
		created = t.UTC()
	}
	if s := strings.TrimSpace(l.LastUsedAt); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.After(now) {
			return Key{}, fmt.Errorf("last_used_at: give an RFC 3339 time in the past")
		}
		t = t.UTC()
		lastUsed = &t
	}
	k.ID = store.NewID()
	k.Description, k.Kind, k.Environment = set.Description, set.Kind, set.Environment
	k.Scopes, k.Domains, k.IPs, k.ExpiresAt = set.Scopes, set.Domains, set.IPs, set.ExpiresAt
	k.RateLimitPerMinute, k.BlockMinutes = set.RateLimitPerMinute, set.BlockMinutes
	k.CreatedAt, k.UpdatedAt, k.LastUsedAt, k.ExternalID = created, now, lastUsed, strings.TrimSpace(l.ExternalID)
	return k, nil
}

// longestPrefix returns the longest of prefixes that s starts with, or "".
func longestPrefix(s string, prefixes []string) string {
	best := ""
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(p) > len(best) {
			best = p
		}
	}
	return best
}
