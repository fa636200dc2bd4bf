package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/optoken"
	"keyplane/internal/org"
)

const adminUsage = "usage: keyplane admin create-user | create-org | add-member | create-token | create-product | update-product | delete-product [flags]"

// adminArgs is a parsed `keyplane admin ...` command line.
type adminArgs struct {
	sub, email, name, slug, adminEmail, orgSlug, role string
	operator, passwordStdin                           bool
	expiresIn                                         time.Duration
	ips                                               []string
	product                                           productArgs
}

// parseAdmin reads the flags of `keyplane admin ...`; whether
// --password-stdin is needed is the caller's to check.
func parseAdmin(args []string) (adminArgs, error) {
	if len(args) == 0 {
		return adminArgs{}, usagef("%s", adminUsage)
	}
	a := adminArgs{sub: args[0]}
	args = args[1:]
	fs := flag.NewFlagSet("admin "+a.sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var expiresIn durationFlag
	var ips repeated
	switch a.sub {
	case "create-user":
		fs.StringVar(&a.email, "email", "", "")
		fs.StringVar(&a.name, "name", "", "")
		fs.BoolVar(&a.operator, "operator", false, "")
		fs.BoolVar(&a.passwordStdin, "password-stdin", false, "")
	case "create-org":
		fs.StringVar(&a.name, "name", "", "")
		fs.StringVar(&a.slug, "slug", "", "")
		fs.StringVar(&a.adminEmail, "admin", "", "")
	case "add-member":
		fs.StringVar(&a.orgSlug, "org", "", "")
		fs.StringVar(&a.email, "email", "", "")
		fs.StringVar(&a.role, "role", "", "")
	case "create-token":
		fs.StringVar(&a.name, "name", "", "")
		fs.Var(&expiresIn, "expires-in", "")
		fs.Var(&ips, "ip", "")
	case "create-product", "update-product":
		a.product.define(fs)
	case "delete-product":
		fs.StringVar(&a.product.slug, "slug", "", "")
	default:
		return adminArgs{}, usagef("unknown admin command %q; %s", a.sub, adminUsage)
	}
	if err := fs.Parse(args); err != nil {
		return adminArgs{}, usagef("admin %s: %v", a.sub, err)
	}
	if fs.NArg() > 0 {
		return adminArgs{}, usagef("admin %s: unexpected argument %q", a.sub, fs.Arg(0))
	}
	var missing []string
	required := map[string]string{
		"create-user": "email name", "create-org": "name slug admin", "add-member": "org email role", "create-token": "name",
		"create-product": "slug name format", "update-product": "slug", "delete-product": "slug",
	}
	for _, want := range strings.Fields(required[a.sub]) {
		if fs.Lookup(want).Value.String() == "" {
			missing = append(missing, "--"+want)
		}
	}
	if len(missing) > 0 {
		return adminArgs{}, usagef("admin %s: missing %s", a.sub, strings.Join(missing, ", "))
	}
	if a.sub == "add-member" {
		if _, ok := org.ParseRole(a.role); !ok {
			return adminArgs{}, usagef("admin add-member: --role must be admin or member")
		}
	}
	if err := a.product.given(fs, a.sub); err != nil {
		return adminArgs{}, err
	}
	a.expiresIn, a.ips = expiresIn.d, ips
	return a, nil
}

// adminCommand runs `keyplane admin ...` on the database, the command-line
// twin of the operator's pages.
func adminCommand(ctx context.Context, cfg config.Config, args []string, stdin io.Reader, stdout io.Writer) error {
	a, err := parseAdmin(args)
	if err != nil {
		return err
	}
	if a.sub == "create-user" && !a.passwordStdin {
		return usagef("admin create-user: --password-stdin is required (the password is read from standard input)")
	}
	if strings.HasSuffix(a.sub, "-product") {
		return productCommand(ctx, cfg, a, stdout)
	}
	sub, email, name, slug, adminEmail, orgSlug, role, operator := a.sub, a.email, a.name, a.slug, a.adminEmail, a.orgSlug, a.role, a.operator

	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts := account.NewService(db, nil)
	orgs := org.NewService(db, nil)
	cli := audit.Actor{}
	tokens := optoken.NewService(db, cfg.KeyPrefix, nil)

	switch sub {
	case "create-user":
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		password := strings.TrimRight(line, "\r\n")
		u, err := accounts.CreateUser(ctx, account.NewUser{Email: email, Name: name, Password: password, Operator: operator})
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "created user %s (%s)\n", u.Email, u.ID)
	case "create-org":
		u, err := accounts.UserByEmail(ctx, adminEmail)
		if err != nil {
			return cliError(fmt.Errorf("no user with email %s", adminEmail))
		}
		o, err := orgs.Create(ctx, name, slug, u.ID, cli)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "created organization %s (%s) with admin %s\n", o.Slug, o.ID, u.Email)
	case "add-member":
		o, err := orgs.BySlug(ctx, orgSlug)
		if err != nil {
			return cliError(fmt.Errorf("no organization with slug %s", orgSlug))
		}
		u, err := accounts.UserByEmail(ctx, email)
		if err != nil {
			return cliError(fmt.Errorf("no user with email %s", email))
		}
		r, _ := org.ParseRole(role)
		if err := orgs.AddMember(ctx, o.ID, u.ID, r, cli); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "added %s to %s as %s\n", u.Email, o.Slug, role)
	case "create-token":
		// The token, and nothing else, on stdout: it is shown only this once.
		secret, _, err := tokens.Create(ctx, optoken.Input{Name: name, ExpiresIn: a.expiresIn, IPs: a.ips, CreatedBy: cli.Name()})
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(stdout, secret)
	}
	return nil
}

// cliError turns an application error into one line: the field messages of
// a validation error, or its message.
func cliError(err error) error {
	if fields := apperr.FieldsOf(err); len(fields) > 0 {
		parts := make([]string, 0, len(fields))
		for k, v := range fields {
			parts = append(parts, k+": "+v)
		}
		sort.Strings(parts)
		return fmt.Errorf("%s", strings.Join(parts, "; "))
	}
	if _, ok := err.(*apperr.Error); ok {
		return fmt.Errorf("%s", apperr.MessageOf(err))
	}
	return err
}
