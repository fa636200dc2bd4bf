package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"keyplane/internal/apikey"
	"keyplane/web/api"
)

// remoteKeysCommand runs `keyplane keys ...` through a remote Keyplane's
// org API, with the same flags and output as on the database. The token
// must be an org key with keys:manage; --org, when given, must be its
// organization.
func remoteKeysCommand(ctx context.Context, r *remote, args []string, stdin io.Reader, stdout io.Writer) error {
	a, err := parseKeys(args)
	if err != nil {
		return err
	}
	if a.sub == "import" {
		return remoteImport(ctx, r, a, stdin, stdout)
	}
	if r.isOperatorToken() {
		return usagef("keys %s: KEYPLANE_REMOTE_TOKEN is an operator token; keys commands need an org key with keys:manage", a.sub)
	}
	if a.org != "" {
		var me struct {
			Org struct {
				Slug string `json:"slug"`
			} `json:"org"`
		}
		if err := r.do(ctx, http.MethodGet, "/v1/me", nil, &me); err != nil {
			return err
		}
		if me.Org.Slug != a.org {
			return usagef("keys %s: --org %s does not match KEYPLANE_REMOTE_TOKEN, a key of %s; leave --org out or use a key of %s", a.sub, a.org, me.Org.Slug, a.org)
		}
	}
	switch a.sub {
	case "create":
		body := map[string]any{
			"description": a.description, "kind": a.kind, "environment": a.env,
			"scopes": orEmpty(a.scopes), "domains": orEmpty(a.domains), "ips": orEmpty(a.ips),
		}
		if a.expiresIn > 0 {
			body["expires_at"] = time.Now().Add(a.expiresIn).UTC().Format(time.RFC3339)
		}
		if a.rateLimit != 0 {
			body["rate_limit_per_minute"] = a.rateLimit
		}
		if a.block > 0 {
			body["block_minutes"] = blockMinutes(a.block)
		}
		if a.product != "" {
			body["product"] = a.product
		}
		if len(a.reportOnly) > 0 {
			body["report_only"] = a.reportOnly
		}
		if q := quotaBody(a.quota); q != nil {
			body["quota"] = q
		}
		var created struct {
			Secret string `json:"secret"`
		}
		if err := r.do(ctx, http.MethodPost, "/api/v1/keys", body, &created); err != nil {
			return err
		}
		fmt.Fprintln(stdout, created.Secret)
	case "list":
		var out []keyJSON
		q := url.Values{"limit": {"100"}}
		if a.product != "" {
			q.Set("product", a.product)
		}
		for {
			var page struct {
				Data       []keyJSON `json:"data"`
				NextCursor *string   `json:"next_cursor"`
			}
			if err := r.do(ctx, http.MethodGet, "/api/v1/keys?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			for _, k := range page.Data {
				k.Scopes, k.Domains, k.IPs = orEmpty(k.Scopes), orEmpty(k.Domains), orEmpty(k.IPs)
				out = append(out, k)
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				break
			}
			q.Set("cursor", *page.NextCursor)
		}
		if out == nil {
			out = []keyJSON{}
		}
		return printKeys(out, a.asJSON, stdout)
	case "enforce", "report-only":
		return remoteSwitchRestriction(ctx, r, a, stdout)
	default:
		var k keyJSON
		if err := r.do(ctx, http.MethodPost, "/api/v1/keys/"+url.PathEscape(a.id)+"/"+a.sub, nil, &k); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s (%s)\n", keyStateVerbs[a.sub], k.Hint, k.Description)
	}
	return nil
}

// remoteImport runs `keyplane keys import` through the operator API, which
// takes up to 1,000 keys a call: a longer file is refused whole (imports
// are all or none) and belongs where the database is.
func remoteImport(ctx context.Context, r *remote, a keysArgs, stdin io.Reader, stdout io.Writer) error {
	switch {
	case !r.isOperatorToken():
		return usagef("keys import: KEYPLANE_REMOTE_TOKEN must be an operator token to import keys")
	case a.org == "":
		return usagef("keys import: missing --org")
	}
	lines, err := readImportFile(a.file, stdin, 0)
	if err != nil {
		return err
	}
	if len(lines) > api.MaxImportKeys {
		return fmt.Errorf("keys import: %d keys; a remote import takes at most %d (imports are all or none): run it where the database is", len(lines), api.MaxImportKeys)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	q := url.Values{}
	if a.product != "" {
		q.Set("product", a.product)
	}
	for _, p := range a.legacy {
		q.Add("legacy_prefix", p)
	}
	path := "/api/v1/admin/orgs/" + url.PathEscape(a.org) + "/keys/import"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var got struct {
		Created  int `json:"created"`
		Existing int `json:"existing"`
	}
	if err := r.send(ctx, http.MethodPost, path, api.NDJSON, &body, &got); err != nil {
		return err
	}
	printImported(stdout, got.Created, got.Existing)
	return nil
}

// remoteAdminCommand runs `keyplane admin ...` through a remote Keyplane's
// operator API, with the same flags and output as on the database. The
// token must be an operator token. Users made this way have no password
// (they sign in through SSO or the portal), and operator tokens are made
// only where the database is.
func remoteAdminCommand(ctx context.Context, r *remote, args []string, stdout io.Writer) error {
	a, err := parseAdmin(args)
	if err != nil {
		return err
	}
	switch {
	case a.sub == "create-token":
		return usagef("admin create-token: operator tokens cannot be made remotely; unset KEYPLANE_REMOTE_URL and run it where the database is, or use /admin/tokens")
	case a.sub == "create-user" && a.passwordStdin:
		return usagef("admin create-user: passwords cannot be set remotely (the user signs in through SSO or the portal); leave out --password-stdin")
	case a.sub == "create-user" && a.operator:
		return usagef("admin create-user: operators cannot be made remotely; leave out --operator")
	case r.isAPIKey():
		return usagef("admin %s: KEYPLANE_REMOTE_TOKEN is an API key; admin commands need an operator token", a.sub)
	}
	switch a.sub {
	case "create-product", "update-product", "delete-product":
		return remoteProductCommand(ctx, r, a, stdout)
	case "create-user":
		var u struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if err := r.do(ctx, http.MethodPost, "/api/v1/admin/users", map[string]string{"email": a.email, "name": a.name}, &u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s)\n", u.Email, u.ID)
	case "create-org":
		var o struct {
			ID   string `json:"id"`
			Slug string `json:"slug"`
		}
		body := map[string]string{"name": a.name, "slug": a.slug, "admin": a.adminEmail}
		if err := r.do(ctx, http.MethodPost, "/api/v1/admin/orgs", body, &o); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created organization %s (%s) with admin %s\n", o.Slug, o.ID, strings.ToLower(strings.TrimSpace(a.adminEmail)))
	case "add-member":
		var m struct {
			Email string `json:"email"`
		}
		body := map[string]string{"email": a.email, "role": a.role}
		if err := r.do(ctx, http.MethodPost, "/api/v1/admin/orgs/"+url.PathEscape(a.orgSlug)+"/members", body, &m); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to %s as %s\n", m.Email, a.orgSlug, a.role)
	}
	return nil
}

// quotaBody is q as the management API takes it, or nil for none. The
// numbers go as typed: the server says what is wrong with them.
func quotaBody(q apikey.QuotaInput) map[string]any {
	num := func(s string) any {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		return s
	}
	switch q.Kind {
	case "":
		return nil
	case "credits":
		body := map[string]any{"credits": num(q.Limit)}
		if q.Refill != "" {
			amount := q.RefillAmount
			if amount == "" {
				amount = q.Limit
			}
			body["refill"] = map[string]any{"amount": num(amount), "interval": q.Refill}
		}
		return body
	}
	return map[string]any{"limit": num(q.Limit), "period": q.Kind}
}
