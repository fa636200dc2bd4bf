package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/usage"
)

const keysUsage = "usage: keyplane keys create | list | revoke | disable | enable | enforce | report-only | import [flags]"

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// durationFlag takes Go durations plus a "d" suffix for days.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(v string) error {
	d, err := config.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration (like 90d or 12h)", v)
	}
	f.d = d
	return nil
}

// keysArgs is a parsed `keyplane keys ...` command line.
type keysArgs struct {
	sub, org, description, kind, env string
	product                          string // a product's slug; "" for the default (create) or all (list)
	scopes, domains, ips             []string
	expiresIn, block                 time.Duration
	rateLimit                        int
	asJSON                           bool
	id                               string // of revoke, disable and enable
	file                             string // of import: a path, or - for stdin
	legacy                           []string
	reportOnly                       []string           // of create
	restriction                      apikey.Restriction // of enforce and report-only
	quota                            apikey.QuotaInput  // of create
}

// keyStateVerbs are the subcommands that change one key's state, with what
// they print ("revoked kp_sk_live_…a9Qz (Billing)").
var keyStateVerbs = map[string]string{"revoke": "revoked", "disable": "disabled", "enable": "enabled"}

// parseKeys reads the flags of `keyplane keys ...`; --org is checked by
// the caller, since a remote org key implies it.
func parseKeys(args []string) (keysArgs, error) {
	if len(args) == 0 {
		return keysArgs{}, usagef("%s", keysUsage)
	}
	a := keysArgs{sub: args[0]}
	args = args[1:]
	fs := flag.NewFlagSet("keys "+a.sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var scopes, domains, ips, legacy, reportOnly repeated
	var credits string
	var expiresIn, block durationFlag
	fs.StringVar(&a.org, "org", "", "")
	switch a.sub {
	case "create":
		fs.StringVar(&a.description, "description", "", "")
		fs.StringVar(&a.kind, "kind", string(apikey.Private), "")
		fs.StringVar(&a.env, "env", string(apikey.Live), "")
		fs.Var(&scopes, "scope", "")
		fs.Var(&domains, "domain", "")
		fs.Var(&ips, "ip", "")
		fs.Var(&expiresIn, "expires-in", "")
		fs.IntVar(&a.rateLimit, "rate-limit", 0, "")
		fs.Var(&block, "block", "")
		fs.StringVar(&a.product, "product", "", "")
		fs.Var(&reportOnly, "report-only", "")
		fs.StringVar(&a.quota.Limit, "quota", "", "")
		fs.StringVar(&a.quota.Kind, "quota-period", "", "")
		fs.StringVar(&credits, "credits", "", "")
		fs.StringVar(&a.quota.Refill, "refill", "", "")
		fs.StringVar(&a.quota.RefillAmount, "refill-amount", "", "")
	case "list":
		fs.BoolVar(&a.asJSON, "json", false, "")
		fs.StringVar(&a.product, "product", "", "")
	case "revoke", "disable", "enable", "enforce", "report-only":
	case "import":
		fs.StringVar(&a.product, "product", "", "")
		fs.Var(&legacy, "legacy-prefix", "")
	default:
		return keysArgs{}, usagef("unknown keys command %q; %s", a.sub, keysUsage)
	}
	err := fs.Parse(args)
	if err != nil {
		return keysArgs{}, usagef("keys %s: %v", a.sub, err)
	}
	if _, ok := restrictionVerbs[a.sub]; ok {
		a.id, a.restriction, err = restrictionArgs(a.sub, fs.Args())
		return a, err
	}
	_, onOneKey := keyStateVerbs[a.sub]
	if onOneKey && fs.NArg() != 1 {
		return keysArgs{}, usagef("keys %s: give exactly one KEY_ID after the flags", a.sub)
	}
	if a.sub == "import" {
		if fs.NArg() != 1 {
			return keysArgs{}, usagef("keys import: give exactly one FILE of JSON lines after the flags (- for stdin)")
		}
		a.file, a.legacy = fs.Arg(0), legacy
		return a, nil
	}
	if !onOneKey && fs.NArg() > 0 {
		return keysArgs{}, usagef("keys %s: unexpected argument %q", a.sub, fs.Arg(0))
	}
	if a.sub == "create" && a.description == "" {
		return keysArgs{}, usagef("keys create: missing --description")
	}
	a.scopes, a.domains, a.ips, a.expiresIn, a.block, a.id = scopes, domains, ips, expiresIn.d, block.d, fs.Arg(0)
	a.reportOnly, err = reportOnlyList(reportOnly)
	if err != nil {
		return a, err
	}
	return a, quotaArgs(&a.quota, credits)
}

// quotaArgs reads --quota N --quota-period day|month, or --credits N with
// an optional --refill INTERVAL and --refill-amount N, into q.
func quotaArgs(q *apikey.QuotaInput, credits string) error {
	switch {
	case credits != "" && (q.Limit != "" || q.Kind != ""):
		return usagef("keys create: give either --quota and --quota-period, or --credits")
	case credits != "":
		q.Kind, q.Limit = "credits", credits
	case (q.Refill != "" || q.RefillAmount != "") && credits == "":
		return usagef("keys create: --refill and --refill-amount go with --credits")
	case q.Limit != "" && q.Kind == "":
		return usagef("keys create: --quota needs --quota-period day or month")
	case q.Kind != "" && q.Kind != "day" && q.Kind != "month":
		return usagef("keys create: --quota-period is day or month (for credits, use --credits)")
	case q.Kind != "" && q.Limit == "":
		return usagef("keys create: --quota-period needs --quota N")
	}
	return nil
}

// keysCommand runs `keyplane keys ...` on the database: create prints the
// new key and nothing else on stdout; list prints a table or JSON; revoke
// ends a key; disable pauses it and enable lets it work again; import
// brings keys in from a file of JSON lines (stdin for -), all or none.
func keysCommand(ctx context.Context, cfg config.Config, args []string, stdin io.Reader, stdout io.Writer) error {
	a, err := parseKeys(args)
	if err != nil {
		return err
	}
	if a.org == "" {
		return usagef("keys %s: missing --org", a.sub)
	}
	orgSlug, sub := a.org, a.sub

	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := org.NewService(db, nil).BySlug(ctx, orgSlug)
	if err != nil {
		return fmt.Errorf("no organization with slug %s", orgSlug)
	}
	products, err := product.NewService(ctx, db, cfg, nil)
	if err != nil {
		return err
	}
	opts := apikey.ConfigOptions(cfg)
	opts.Products = products.Rules
	keys := apikey.NewService(db, opts)
	cli := audit.Actor{}

	switch sub {
	case "create":
		in := apikey.Input{
			Product: a.product, Description: a.description, Kind: a.kind, Environment: a.env, Scopes: a.scopes,
			Domains: strings.Join(a.domains, "\n"), IPs: strings.Join(a.ips, "\n"), ExpiresIn: a.expiresIn,
			ReportOnly: a.reportOnly, Quota: a.quota,
		}
		if a.rateLimit != 0 {
			in.RateLimit = strconv.Itoa(a.rateLimit)
		}
		if a.block > 0 {
			in.BlockMinutes = strconv.Itoa(blockMinutes(a.block))
		}
		created, err := keys.Create(ctx, o.ID, "", in, cli)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintln(stdout, created.Secret)
	case "list":
		return listKeys(ctx, keys, db, o, a.product, a.asJSON, stdout)
	case "enforce", "report-only":
		return switchRestriction(ctx, keys, o.ID, a, stdout)
	case "import":
		lines, err := readImportFile(a.file, stdin, 0)
		if err != nil {
			return err
		}
		in, err := products.ImportOf(a.product, a.legacy, lines)
		if err != nil {
			return fmt.Errorf("no product with slug %s", a.product)
		}
		got, err := keys.Import(ctx, o.ID, in, cli)
		if err != nil {
			return cliError(err)
		}
		printImported(stdout, got.Created, got.Existed)
	default:
		change := map[string]func(context.Context, string, string, audit.Actor) (apikey.Key, error){
			"revoke": keys.Revoke, "disable": keys.Disable, "enable": keys.Enable,
		}[sub]
		k, err := change(ctx, o.ID, a.id, cli)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(stdout, "%s %s (%s)\n", keyStateVerbs[sub], k.Hint, k.Description)
	}
	return nil
}

// readImportFile reads the JSON lines of path (stdin for -), at most max
// keys (0 for no bound).
func readImportFile(path string, stdin io.Reader, max int) ([]apikey.ImportLine, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("keys import: %w", err)
		}
		defer f.Close()
		r = f
	}
	lines, err := apikey.ReadImportLines(r, max)
	if err != nil {
		return nil, cliError(err)
	}
	return lines, nil
}

func printImported(w io.Writer, created, existed int) {
	fmt.Fprintf(w, "imported %d keys (%d there already)\n", created, existed)
}

// keyJSON is one key in `keys list --json`.
type keyJSON struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	Hint        string     `json:"hint"`
	Product     string     `json:"product"`
	Kind        string     `json:"kind"`
	Environment string     `json:"environment"`
	Scopes      []string   `json:"scopes"`
	Domains     []string   `json:"domains"`
	IPs         []string   `json:"ips"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Requests24h int64      `json:"requests_24h"`
}

func listKeys(ctx context.Context, keys *apikey.Service, db *store.DB, o org.Organization, productSlug string, asJSON bool, stdout io.Writer) error {
	list, err := keys.List(ctx, o.ID, apikey.Filter{Product: productSlug})
	if err != nil {
		return err
	}
	now := time.Now()
	activity, err := usage.NewReader(db).Activity(ctx, o.ID, now)
	if err != nil {
		return err
	}
	out := make([]keyJSON, 0, len(list))
	for _, k := range list {
		out = append(out, keyJSON{
			ID: k.ID, Description: k.Description, Hint: k.Hint, Product: k.Product, Kind: string(k.Kind), Environment: string(k.Environment),
			Scopes: orEmpty(k.Scopes), Domains: orEmpty(k.Domains), IPs: orEmpty(k.IPs), Status: string(k.StatusAt(now)),
			CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utc(k.Deadline()), LastUsedAt: utc(k.LastUsedAt), Requests24h: activity[k.ID].Last24h,
		})
	}
	return printKeys(out, asJSON, stdout)
}

// printKeys writes keys as `keys list` does: a table, or JSON. The table
// has a PRODUCT column when a key of a product other than the default is
// listed, so a deployment with one product sees none.
func printKeys(out []keyJSON, asJSON bool, stdout io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	withProduct := slices.ContainsFunc(out, func(k keyJSON) bool { return k.Product != apikey.DefaultProduct })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	row := func(cells ...string) {
		if !withProduct {
			cells = slices.Delete(cells, 3, 4)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	row("ID", "HINT", "DESCRIPTION", "PRODUCT", "KIND", "ENV", "STATUS", "LAST USED", "REQUESTS 24H")
	for _, k := range out {
		last := "never"
		if k.LastUsedAt != nil {
			last = k.LastUsedAt.Format(time.RFC3339)
		}
		row(k.ID, k.Hint, k.Description, k.Product, k.Kind, k.Environment, k.Status, last, strconv.FormatInt(k.Requests24h, 10))
	}
	return tw.Flush()
}

// blockMinutes is d in whole minutes, rounded up.
func blockMinutes(d time.Duration) int {
	return int((d + time.Minute - 1) / time.Minute)
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
