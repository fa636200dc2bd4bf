// Package apperr carries application errors across layers as codes, so that
// one place (the web error handler) turns them into HTTP statuses while users
// see a message and logs see the wrapped cause.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an application error.
type Code string

// The codes an application error can carry.
const (
	Invalid      Code = "invalid"      // the input is wrong; Message says why
	NotFound     Code = "not_found"    // the thing does not exist, or the caller may not know it does
	Conflict     Code = "conflict"     // the thing already exists or changed meanwhile
	Unauthorized Code = "unauthorized" // the caller is not signed in or the credentials are wrong
	Forbidden    Code = "forbidden"    // the caller is known but may not do this
	TooMany      Code = "too_many"     // throttled; retry later
	Limit        Code = "limit"        // a configured limit is reached
	Unavailable  Code = "unavailable"  // a dependency (database, Redis) cannot be reached
	Internal     Code = "internal"     // anything else
)

// Error is an application error: a code, a message fit for the user, optional
// field messages for forms, and the wrapped cause for logs.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	default:
		return e.Message
	}
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code and a user-facing message.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code and message that wraps cause.
func Wrap(code Code, cause error, message string) error {
	return &Error{Code: code, Message: message, Err: cause}
}

// InvalidFields returns an Invalid error with one message per form field.
func InvalidFields(fields map[string]string) error {
	return &Error{Code: Invalid, Message: "Please correct the highlighted fields.", Fields: fields}
}

// CodeOf returns the code of the first *Error in err's chain, Internal for any
// other non-nil error, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the user-facing message of err, or a generic one when err
// carries none.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Something went wrong. Please try again."
}

// FieldsOf returns the field messages of err, or nil.
func FieldsOf(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
