package apikey

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
)

// Suggestion is what a key's traffic used, as restrictions to propose:
// the client addresses (or CIDR ranges), the web origins
// (scheme://host[:port]) and the scopes its requests needed.
type Suggestion struct {
	IPs     []string
	Origins []string
	Scopes  []string
}

// Empty reports whether the suggestion restricts nothing.
func (sg Suggestion) Empty() bool {
	return len(sg.IPs) == 0 && len(sg.Origins) == 0 && len(sg.Scopes) == 0
}

// Restrictions are the restrictions Restrict sets on key k from sg: the
// IP allowlist when sg has addresses, the allowed domains when k is a
// public key and sg has origins, the scopes when sg has scopes.
func (sg Suggestion) Restrictions(k Key) []Restriction {
	var out []Restriction
	if len(sg.IPs) > 0 && !Enforced(k, RestrictIPs) {
		out = append(out, RestrictIPs)
	}
	if k.Kind == Public && len(sg.Origins) > 0 && !Enforced(k, RestrictDomains) {
		out = append(out, RestrictDomains)
	}
	if len(sg.Scopes) > 0 && !Enforced(k, RestrictScopes) {
		out = append(out, RestrictScopes)
	}
	return out
}

// Enforced reports whether k enforces restriction r with values of its
// own. Restricting a key to what it used never touches such a
// restriction: putting its new values in report-only mode would let
// through what it refuses now.
func Enforced(k Key, r Restriction) bool {
	if k.ReportOnly().Has(r) {
		return false
	}
	switch r {
	case RestrictIPs:
		return len(k.IPs) > 0
	case RestrictDomains:
		return len(k.Domains) > 0
	case RestrictScopes:
		// A key's scopes are always checked: none held refuses every
		// request that needs one.
		return true
	}
	return false
}

// Grantable splits scopes into those of the policy's catalogue, in order
// and without repeats (what a key can hold), and the others.
func (p Policy) Grantable(scopes []string) (kept, unknown []string) {
	for _, sc := range scopes {
		sc = strings.TrimSpace(sc)
		switch {
		case sc == "" || slices.Contains(kept, sc) || slices.Contains(unknown, sc):
		case slices.Contains(p.Scopes, sc):
			kept = append(kept, sc)
		default:
			unknown = append(unknown, sc)
		}
	}
	return kept, unknown
}

// Propose turns what key k's traffic used (its client addresses, web
// origins and needed scopes) into the Suggestion k can take under p: the
// addresses and CIDR ranges that parse, the origins that are domain
// patterns (public keys only: a private key's origin is never checked),
// the scopes of p's catalogue, each list within what a key holds. LeftOut
// names what was used but cannot be proposed.
func (p Policy) Propose(k Key, ips, origins, scopes []string) (sg Suggestion, leftOut []string) {
	for _, ip := range ips {
		if _, err := parsePrefix(ip); err != nil || len(sg.IPs) >= MaxIPs {
			leftOut = append(leftOut, ip)
			continue
		}
		sg.IPs = append(sg.IPs, ip)
	}
	if k.Kind == Public {
		for _, o := range origins {
			if _, err := ParseDomainPattern(o); err != nil || len(sg.Origins) >= MaxDomains {
				leftOut = append(leftOut, o)
				continue
			}
			sg.Origins = append(sg.Origins, o)
		}
	}
	kept, unknown := p.Grantable(scopes)
	// Restricting narrows: a scope the key does not hold (seen on requests
	// a report-only scope check let through) is never proposed.
	for _, sc := range kept {
		if slices.Contains(k.Scopes, sc) || slices.Contains(k.Scopes, config.ScopeAdmin) {
			sg.Scopes = append(sg.Scopes, sc)
		} else {
			leftOut = append(leftOut, sc)
		}
	}
	return sg, append(leftOut, unknown...)
}

// Propose is Policy.Propose under the rules of k's product. Returns
// Conflict when that product no longer exists.
func (s *Service) Propose(k Key, ips, origins, scopes []string) (Suggestion, []string, error) {
	rules, err := s.Rules(k.Product)
	if err != nil {
		return Suggestion{}, nil, apperr.New(apperr.Conflict, "This key's product %q no longer exists; it cannot be changed.", k.Product)
	}
	sg, left := rules.Policy.Propose(k, ips, origins, scopes)
	return sg, left, nil
}

// Restrict sets key keyID of orgID to what its traffic used, in one
// transaction: its IP allowlist to sg's addresses, its allowed domains
// (public keys only) to sg's origins, its scopes to sg's scopes (those
// of the product's catalogue; a key holding keys:manage keeps it, since
// the management API's requests are not counted), and puts exactly those
// restrictions in report-only mode, so nothing is refused until an admin
// enforces them. A restriction sg has nothing for is left as it is. The
// change reaches every server within a second and is audited. Admins (or
// a key with keys:manage) only: the caller checks. Returns NotFound,
// Invalid when sg restricts nothing or holds a value the key cannot take,
// or Conflict for a key that is revoked, expired or replaced.
func (s *Service) Restrict(ctx context.Context, orgID, keyID string, sg Suggestion, actor audit.Actor) (Key, error) {
	now := s.now().UTC()
	var out Key
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		k, err := s.get(s.db.ForUpdate(tx), orgID, keyID)
		if err != nil {
			return err
		}
		if !k.Editable(now) {
			return apperr.New(apperr.Conflict, "This key is %s and can no longer be changed.", k.StatusAt(now))
		}
		rules, err := s.Rules(k.Product)
		if err != nil {
			return apperr.New(apperr.Conflict, "This key's product %q no longer exists; it cannot be changed.", k.Product)
		}
		scopes, _ := rules.Policy.Grantable(sg.Scopes)
		if len(scopes) > 0 && slices.Contains(k.Scopes, config.ScopeKeysManage) && !slices.Contains(scopes, config.ScopeKeysManage) {
			scopes = append(scopes, config.ScopeKeysManage)
		}
		sg.Scopes = scopes
		applied := sg.Restrictions(k)
		if len(applied) == 0 {
			return apperr.New(apperr.Invalid, "There is nothing to restrict: no request of this key in the period came with an address, an origin or a scope.")
		}
		in := Input{
			Description: k.Description, Kind: string(k.Kind), Environment: string(k.Environment),
			Scopes: k.Scopes, Domains: strings.Join(k.Domains, "\n"), IPs: strings.Join(k.IPs, "\n"),
		}
		upd := map[string]any{"updated_at": now}
		for _, r := range applied {
			switch r {
			case RestrictIPs:
				in.IPs = strings.Join(sg.IPs, "\n")
			case RestrictDomains:
				in.Domains = strings.Join(sg.Origins, "\n")
			case RestrictScopes:
				in.Scopes = sg.Scopes
			}
			upd[r.Column()] = true
		}
		set, err := rules.Policy.Validate(in, now)
		if err != nil {
			return err
		}
		k.UpdatedAt = now
		for _, r := range applied {
			switch r {
			case RestrictIPs:
				k.IPs, upd["ips"] = set.IPs, List(set.IPs)
			case RestrictDomains:
				k.Domains, upd["domains"] = set.Domains, List(set.Domains)
			case RestrictScopes:
				k.Scopes, upd["scopes"] = set.Scopes, List(set.Scopes)
			}
			k.setReportOnly(k.ReportOnly().With(r, true))
		}
		res := tx.Model(&Key{}).Where("org_id = ? AND id = ? AND revoked_at IS NULL AND replaced_by_id IS NULL", orgID, keyID).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("apikey: restrict: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "This key was revoked or rotated meanwhile and can no longer be changed.")
		}
		out = k
		if err := s.recordChange(tx, k.KeyHash, now); err != nil {
			return err
		}
		s.announce(ctx, k.KeyHash)
		if err := s.emit(ctx, audit.KeyUpdated, k, now, actor); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, orgID, actor, audit.KeyRestricted, "api_key", k.ID,
			fmt.Sprintf("%s restricted %s (%s) to what it used, in report-only mode: %s", actor.Name(), k.Hint, k.Description, restrictedText(k, applied)))
	})
	if err != nil {
		return Key{}, err
	}
	return out, nil
}

// restrictedText says what Restrict set: "IP allowlist 203.0.113.7/32;
// scopes read, write".
func restrictedText(k Key, applied []Restriction) string {
	var parts []string
	for _, r := range applied {
		var list []string
		switch r {
		case RestrictIPs:
			list = k.IPs
		case RestrictDomains:
			list = k.Domains
		case RestrictScopes:
			list = k.Scopes
		}
		text := strings.Join(list, ", ")
		if len(list) > 5 {
			text = strings.Join(list[:5], ", ") + fmt.Sprintf(" and %d more", len(list)-5)
		}
		parts = append(parts, strings.TrimPrefix(r.Phrase(), "the ")+" "+text)
	}
	return strings.Join(parts, "; ")
}
