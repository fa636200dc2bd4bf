package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
)

// restrictionVerbs are the subcommands that switch one restriction of one
// key (`keyplane keys enforce --org S KEY_ID RESTRICTION`), and whether
// they make it report only.
var restrictionVerbs = map[string]bool{"enforce": false, "report-only": true}

// reportOnlyList reads --report-only, given once with commas or several
// times: the restriction names, each checked.
func reportOnlyList(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if _, ok := apikey.ParseRestriction(name); !ok {
				return nil, usagef("--report-only: unknown restriction %q; use ips, domains, rate_limit, scopes or quota", name)
			}
			out = append(out, name)
		}
	}
	return out, nil
}

// restrictionArgs reads KEY_ID RESTRICTION of enforce and report-only.
func restrictionArgs(sub string, args []string) (id string, r apikey.Restriction, err error) {
	if len(args) != 2 {
		return "", "", usagef("keys %s: give KEY_ID and a restriction (ips, domains, rate_limit, scopes or quota) after the flags", sub)
	}
	r, ok := apikey.ParseRestriction(args[1])
	if !ok {
		return "", "", usagef("keys %s: unknown restriction %q; use ips, domains, rate_limit, scopes or quota", sub, args[1])
	}
	return args[0], r, nil
}

// switchedText is what enforce and report-only print: "enforced ips of
// kp_sk_live_…a9Qz (Billing)".
func switchedText(sub string, r apikey.Restriction, hint, description string) string {
	if restrictionVerbs[sub] {
		return fmt.Sprintf("set %s of %s (%s) to report only\n", r, hint, description)
	}
	return fmt.Sprintf("enforced %s of %s (%s)\n", r, hint, description)
}

// switchRestriction runs enforce or report-only on the database.
func switchRestriction(ctx context.Context, keys *apikey.Service, orgID string, a keysArgs, stdout io.Writer) error {
	k, err := keys.SetReportOnly(ctx, orgID, a.id, a.restriction, restrictionVerbs[a.sub], audit.Actor{})
	if err != nil {
		return cliError(err)
	}
	fmt.Fprint(stdout, switchedText(a.sub, a.restriction, k.Hint, k.Description))
	return nil
}

// remoteSwitchRestriction runs enforce or report-only through the org API.
func remoteSwitchRestriction(ctx context.Context, r *remote, a keysArgs, stdout io.Writer) error {
	mode := "enforce"
	if restrictionVerbs[a.sub] {
		mode = "report"
	}
	key := "/api/v1/keys/" + url.PathEscape(a.id)
	if err := r.do(ctx, http.MethodPut, key+"/restrictions/"+string(a.restriction), map[string]string{"mode": mode}, nil); err != nil {
		return err
	}
	var k keyJSON
	if err := r.do(ctx, http.MethodGet, key, nil, &k); err != nil {
		return err
	}
	fmt.Fprint(stdout, switchedText(a.sub, a.restriction, k.Hint, k.Description))
	return nil
}
