package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
)

// apiEnv is a server with two organizations and a key of every kind the
// management API must tell apart.
type apiEnv struct {
	*env
	acme, other org.Organization
	admin       account.User      // admin of both organizations
	bob         account.User      // a member of acme only
	creds       map[string]string // credential name → the key ("" for none)
	ids         map[string]string // credential name → its key's id
	spec        *specValidator
}

// Credential names of apiEnv.
const (
	credManage   = "manage"    // acme, private, keys:manage
	credNone     = "none"      // no key at all
	credGarbage  = "malformed" // not a key
	credUnknown  = "unknown"   // well-formed, never stored
	credRead     = "read"      // acme, private, read only
	credAdmin    = "admin"     // acme, private, admin only
	credOtherOrg = "other_org" // other, private, keys:manage
	credRevoked  = "revoked"   // acme, keys:manage, revoked
	credDisabled = "disabled"  // acme, keys:manage, disabled
	credPublic   = "public"    // acme, public, read
)

func newAPIEnv(t *testing.T, db *store.DB, tweaks ...func(*Deps)) *apiEnv {
	t.Helper()
	e := newEnv(t, db, map[string]string{"KEYPLANE_MAX_KEYS_PER_ORG": "1000"}, tweaks...)
	u := e.user("admin@example.com", "Admin", false)
	a := &apiEnv{env: e, creds: map[string]string{}, ids: map[string]string{}}
	a.acme = e.org("Acme", "acme", u.ID)
	a.other = e.org("Other", "other", u.ID)
	a.admin, a.bob = u, e.user("bob@example.com", "Bob", false)
	if err := e.orgs.AddMember(context.Background(), a.acme.ID, a.bob.ID, org.Member, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	mk := func(name, orgID string, in apikey.Input) {
		c := a.mustKey(orgID, in)
		a.creds[name], a.ids[name] = c.Secret, c.Key.ID
	}
	private := func(desc string, scopes ...string) apikey.Input {
		return apikey.Input{Description: desc, Kind: "private", Environment: "live", Scopes: scopes}
	}
	mk(credManage, a.acme.ID, private("CI deployer", "keys:manage", "read"))
	mk(credRead, a.acme.ID, private("Reader", "read"))
	mk(credAdmin, a.acme.ID, private("Admin only", "admin"))
	mk(credOtherOrg, a.other.ID, private("Other CI", "keys:manage"))
	mk(credRevoked, a.acme.ID, private("Old CI", "keys:manage"))
	if _, err := e.keys.Revoke(context.Background(), a.acme.ID, a.ids[credRevoked], audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	mk(credDisabled, a.acme.ID, private("Paused CI", "keys:manage"))
	if _, err := e.keys.Disable(context.Background(), a.acme.ID, a.ids[credDisabled], audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	mk(credPublic, a.acme.ID, apikey.Input{Description: "Web", Kind: "public", Environment: "live", Scopes: []string{"read"}, Domains: "shop.example.com"})
	unknown, err := apikey.Generate(nil, e.cfg.KeyPrefix, apikey.Private, apikey.Live)
	if err != nil {
		t.Fatal(err)
	}
	a.creds[credUnknown] = unknown
	a.creds[credGarbage] = "kp_sk_live_not-a-key"
	a.creds[credNone] = ""
	a.spec = newSpecValidator(t, e)
	return a
}

func (a *apiEnv) mustKey(orgID string, in apikey.Input) apikey.Created {
	a.t.Helper()
	c, err := a.keys.Create(context.Background(), orgID, "", in, audit.Actor{})
	if err != nil {
		a.t.Fatalf("create key %q: %v", in.Description, err)
	}
	return c
}

// apiResponse is an answer of the management API, its body decoded.
type apiResponse struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// code is the error code of an error answer.
func (r apiResponse) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// fields are the field names of an invalid answer.
func (r apiResponse) fields() []string {
	e, _ := r.body["error"].(map[string]any)
	list, _ := e["fields"].([]any)
	var out []string
	for _, f := range list {
		out = append(out, f.(map[string]any)["name"].(string))
	}
	return out
}

// call sends method path with key in X-Api-Key and checks the answer
// against the OpenAPI document's schema for the operation (route is its
// path in the document, "" for no operation) and status.
func (a *apiEnv) call(method, route, path, key, body string, headers ...string) apiResponse {
	a.t.Helper()
	req, err := http.NewRequest(method, a.ts.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := apiResponse{status: res.StatusCode, header: res.Header, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		a.t.Fatalf("%s %s: %d with a body that is not a JSON object: %q", method, path, r.status, raw)
	}
	if r.status >= 500 {
		a.t.Errorf("%s %s: %d %s", method, path, r.status, raw)
	}
	if r.status >= 400 && res.Header.Get("X-Keyplane-Error") != r.code() {
		a.t.Errorf("%s %s: X-Keyplane-Error %q, body code %q", method, path, res.Header.Get("X-Keyplane-Error"), r.code())
	}
	if route != "" {
		a.spec.check(a.t, method, route, r.status, raw)
	}
	return r
}

// specValidator checks bodies against the server's own OpenAPI document.
type specValidator struct {
	doc     map[string]any
	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
	c       *jsonschema.Compiler
}

const specURL = "mem://keyplane/openapi.json"

func newSpecValidator(t *testing.T, e *env) *specValidator {
	t.Helper()
	res, err := e.ts.Client().Get(e.ts.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	doc, err := jsonschema.UnmarshalJSON(res.Body)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatal(err)
	}
	return &specValidator{doc: doc.(map[string]any), schemas: map[string]*jsonschema.Schema{}, c: c}
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// check validates body against the schema the document gives for
// (method, route, status); a status the operation does not document fails.
func (v *specValidator) check(t *testing.T, method, route string, status int, body []byte) {
	t.Helper()
	ptr := fmt.Sprintf("#/paths/%s/%s/responses/%d/content/application~1json/schema", pointerEscape(route), strings.ToLower(method), status)
	v.mu.Lock()
	sch, ok := v.schemas[ptr]
	if !ok {
		var err error
		sch, err = v.c.Compile(specURL + ptr)
		if err != nil {
			v.mu.Unlock()
			t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v", method, route, status, err)
			return
		}
		v.schemas[ptr] = sch
	}
	v.mu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %v", method, route, err)
		return
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s %s %d: the body does not match the OpenAPI document: %v\n%s", method, route, status, err, body)
	}
}
