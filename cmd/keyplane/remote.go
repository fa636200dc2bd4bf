package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/optoken"
)

// remoteTimeout bounds every request to a remote Keyplane.
const remoteTimeout = 10 * time.Second

// remote is a remote Keyplane's management API, reached with one
// credential: an org key with keys:manage or an operator token. The token
// goes only into the Authorization header, never into an error.
type remote struct {
	base   string // scheme://host[:port][/path], without a trailing slash
	token  string
	client *http.Client
}

// remoteFromEnv returns the remote named by KEYPLANE_REMOTE_URL and
// KEYPLANE_REMOTE_TOKEN, nil when neither is set, or a usage error naming
// the variable that is missing or wrong.
func remoteFromEnv(getenv func(string) string) (*remote, error) {
	rawURL, token := strings.TrimSpace(getenv("KEYPLANE_REMOTE_URL")), getenv("KEYPLANE_REMOTE_TOKEN")
	if rawURL == "" && token == "" {
		return nil, nil
	}
	if rawURL == "" {
		return nil, usagef("KEYPLANE_REMOTE_URL is not set; give the remote Keyplane's base URL with KEYPLANE_REMOTE_TOKEN")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("KEYPLANE_REMOTE_URL must be an http or https URL with a host, like https://keys.example.com")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, usagef("KEYPLANE_REMOTE_TOKEN is not set; give an org key with keys:manage or an operator token")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, usagef("KEYPLANE_REMOTE_TOKEN must be one key or token, without spaces")
	}
	return &remote{
		base:   strings.TrimSuffix(u.String(), "/"),
		token:  token,
		client: &http.Client{Timeout: remoteTimeout},
	}, nil
}

// isOperatorToken reports whether the token has the shape of an operator
// token ({prefix}_op_...) with a valid checksum, whatever the prefix.
func (r *remote) isOperatorToken() bool {
	head := len("_op_") + apikey.RandomLen + apikey.ChecksumLen
	t := r.token
	return len(t) > head && t[len(t)-head:len(t)-head+4] == "_op_" && optoken.Parse(t, t[:len(t)-head]) == nil
}

// isAPIKey reports whether the token has the shape of a key Keyplane made,
// of any product's format (a secret whose checksum holds), and is not an
// operator token.
func (r *remote) isAPIKey() bool {
	n := apikey.RandomLen + apikey.ChecksumLen
	t := r.token
	return len(t) > n && apikey.HasSecret(t, t[:len(t)-n]) && !r.isOperatorToken()
}

// do sends method path (under the remote's base URL) with body as JSON and
// decodes the answer into out. A refusal is an error carrying the API's
// message; an unreachable remote says so.
func (r *remote) do(ctx context.Context, method, path string, body, out any) error {
	if body == nil {
		return r.send(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return r.send(ctx, method, path, "application/json", bytes.NewReader(b), out)
}

// send is do with a body of contentType already encoded (none when
// contentType is "").
func (r *remote) send(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return fmt.Errorf("remote request: %s", r.redact(err.Error()))
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "keyplane-cli/"+version)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the remote Keyplane at %s: %s", r.base, r.redact(reason(err)))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the remote Keyplane's answer: %s", r.redact(reason(err)))
	}
	if res.StatusCode >= 300 {
		return r.refusal(res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("the remote Keyplane at %s answered %d with something other than the API's JSON; is KEYPLANE_REMOTE_URL its base URL?", r.base, res.StatusCode)
		}
	}
	return nil
}

// refusal turns an error answer of the API into one line: the field
// messages of a validation error, or the message.
func (r *remote) refusal(status int, data []byte) error {
	var p struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Fields  []struct {
				Name    string `json:"name"`
				Message string `json:"message"`
			} `json:"fields"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &p) != nil || p.Error.Message == "" {
		return fmt.Errorf("the remote Keyplane at %s answered %d %s", r.base, status, http.StatusText(status))
	}
	msg := p.Error.Message
	if len(p.Error.Fields) > 0 {
		parts := make([]string, 0, len(p.Error.Fields))
		for _, f := range p.Error.Fields {
			parts = append(parts, f.Name+": "+f.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	return errors.New(r.redact(oneLine(msg)))
}

// reason is the cause of a failed request without the request's URL, which
// the caller names itself.
func reason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %s", remoteTimeout)
	}
	return err.Error()
}

func (r *remote) redact(s string) string {
	return strings.ReplaceAll(s, r.token, "[redacted]")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
