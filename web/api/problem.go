package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"keyplane/internal/apperr"
	"keyplane/internal/idempotency"
	"keyplane/internal/verify"
)

// FieldError names one wrong field of a request by the request's own name
// for it (a body property, a query or path parameter, a header).
type FieldError struct {
	Name    string `json:"name" example:"domains" doc:"The request's own name of the field: a body property, a query or path parameter, or a header."`
	Message string `json:"message" example:"A public key needs at least one allowed domain." doc:"What is wrong with it."`
}

// ErrorDetail is the inside of Problem: the code (also sent as
// X-Keyplane-Error), a message for people, and what the code adds.
type ErrorDetail struct {
	Code    string       `json:"code" example:"invalid" doc:"Machine-readable code; also in the X-Keyplane-Error header."`
	Message string       `json:"message" example:"Please correct the highlighted fields." doc:"Human-readable explanation."`
	Fields  []FieldError `json:"fields,omitempty" doc:"With code invalid: one entry per wrong field."`
	KeyID   string       `json:"key_id,omitempty" format:"uuid" doc:"With code idempotency_replay: the id of the key the first request created (its secret is never sent again)."`
}

// Problem is an error of the management API, in the shape every JSON
// endpoint of Keyplane shares: {"error": {"code", "message", "fields"}}.
// Its status comes from the one table, Status.
type Problem struct {
	Detail  ErrorDetail `json:"error"`
	headers http.Header
	status  int
}

// NewProblem returns the error with code (a key of the status table) and
// message.
func NewProblem(code, message string) *Problem {
	return &Problem{Detail: ErrorDetail{Code: code, Message: message}}
}

func (p *Problem) Error() string { return p.Detail.Code + ": " + p.Detail.Message }

// GetStatus is the code's status in the table, unless WithStatus chose
// another.
func (p *Problem) GetStatus() int {
	if p.status != 0 {
		return p.status
	}
	return Status(p.Detail.Code)
}

// WithStatus returns p answered with status instead of its code's: a data
// plane code about an object rather than the credential (enabling a
// revoked key is 409 key_revoked, not 401).
func (p *Problem) WithStatus(status int) *Problem {
	p.status = status
	return p
}

// GetHeaders carries X-Keyplane-Error and any header the code adds
// (Retry-After).
func (p *Problem) GetHeaders() http.Header {
	h := http.Header{HeaderError: []string{p.Detail.Code}}
	for k, v := range p.headers {
		h[k] = v
	}
	return h
}

// WithHeader returns p with header name set to value.
func (p *Problem) WithHeader(name, value string) *Problem {
	if p.headers == nil {
		p.headers = http.Header{}
	}
	p.headers.Set(name, value)
	return p
}

// codesByStatus turns the statuses huma answers by itself (unreadable or
// invalid input) into codes of the table.
var codesByStatus = map[int]string{
	http.StatusBadRequest:            CodeBadRequest,
	http.StatusUnauthorized:          verify.CodeUnauthorized,
	http.StatusForbidden:             verify.CodeForbidden,
	http.StatusNotFound:              CodeNotFound,
	http.StatusMethodNotAllowed:      CodeMethodNotAllowed,
	http.StatusRequestTimeout:        CodeBadRequest,
	http.StatusConflict:              CodeConflict,
	http.StatusRequestEntityTooLarge: CodeTooLarge,
	http.StatusUnsupportedMediaType:  CodeUnsupportedMediaType,
	http.StatusUnprocessableEntity:   CodeInvalid,
	http.StatusTooManyRequests:       verify.CodeRateLimited,
	http.StatusServiceUnavailable:    verify.CodeUnavailable,
}

// problemOf is huma's own errors (a body that is not JSON, a field that
// fails the schema, a body over its bound) in Keyplane's shape. Values
// are never echoed: a body may hold a key.
func problemOf(status int, msg string, errs []error) *Problem {
	code, ok := codesByStatus[status]
	if !ok {
		code = CodeInternal
	}
	p := NewProblem(code, msg)
	switch code {
	case CodeBadRequest:
		p.Detail.Message = "The request body is not valid JSON."
	case CodeTooLarge:
		p.Detail.Message = fmt.Sprintf("The request body is larger than %d KiB.", MaxManageBody>>10)
	case CodeUnsupportedMediaType:
		p.Detail.Message = "Send the body as application/json."
	case CodeInvalid:
		p.Detail.Message = "Please correct the highlighted fields."
	case CodeInternal:
		p.Detail.Message = "Something went wrong. Please try again."
	}
	for _, err := range errs {
		var d *huma.ErrorDetail
		if code != CodeInvalid || !errors.As(err, &d) {
			continue
		}
		name := fieldName(d.Location)
		// A missing property is reported at its parent; name it instead.
		if rest, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
			name = strings.TrimSuffix(rest, " to be present")
		}
		p.Detail.Fields = append(p.Detail.Fields, FieldError{Name: name, Message: d.Message})
	}
	return p
}

// fieldName turns huma's location (body.scopes[2], query.limit,
// header.Idempotency-Key) into the request's own name of the field.
func fieldName(location string) string {
	for _, prefix := range []string{"body.", "query.", "path.", "header."} {
		if rest, ok := strings.CutPrefix(location, prefix); ok {
			location = rest
			break
		}
	}
	if i := strings.IndexByte(location, '['); i > 0 {
		location = location[:i]
	}
	return location
}

var installErrors sync.Once

// useProblems makes every error huma writes a Problem. huma's error
// constructors are package variables, so this holds for the process.
func useProblems() {
	installErrors.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return problemOf(status, msg, errs)
		}
		huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
			p := problemOf(status, msg, errs)
			if ctx != nil {
				ctx.SetHeader(HeaderError, p.Detail.Code)
			}
			return p
		}
	})
}

// serviceProblem turns a service's error into a Problem: the application
// error's code and message, its fields for Invalid, the idempotency
// outcomes; anything else is internal, its cause for the log only.
func serviceProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var replay *idempotency.Replay
	switch {
	case errors.As(err, &replay):
		p = NewProblem(CodeIdempotencyReplay, "This request was already made with this Idempotency-Key; it created the key in error.key_id. Its secret is shown only once.")
		p.Detail.KeyID = replay.KeyID
		return p
	case errors.Is(err, idempotency.ErrInProgress):
		return NewProblem(CodeIdempotencyInProgress, apperr.MessageOf(err))
	case errors.Is(err, idempotency.ErrMismatch):
		return NewProblem(CodeIdempotencyMismatch, apperr.MessageOf(err))
	}
	code := apperr.CodeOf(err)
	switch code {
	case apperr.Invalid:
		p = NewProblem(CodeInvalid, apperr.MessageOf(err))
		fields := apperr.FieldsOf(err)
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			p.Detail.Fields = append(p.Detail.Fields, FieldError{Name: name, Message: fields[name]})
		}
		return p
	case apperr.NotFound, apperr.Conflict, apperr.Limit, apperr.Forbidden, apperr.Unauthorized, apperr.Unavailable:
		c := string(code)
		switch code {
		case apperr.Unauthorized:
			c = verify.CodeUnauthorized
		case apperr.Forbidden:
			c = verify.CodeForbidden
		case apperr.Unavailable:
			c = verify.CodeUnavailable
		}
		return NewProblem(c, apperr.MessageOf(err))
	case apperr.TooMany:
		return NewProblem(verify.CodeRateLimited, apperr.MessageOf(err))
	}
	return NewProblem(CodeInternal, "Something went wrong. Please try again.")
}
