package config

import "fmt"

// Error is a configuration error naming the variable at fault. Error()
// returns one line that starts with the variable name, e.g.
// `KEYPLANE_ADDR: invalid port "abc"`. Msg quotes the offending value, except
// for secrets and URLs that may carry credentials, which it never repeats.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

func invalid(name, format string, args ...any) *Error {
	return &Error{Var: name, Msg: fmt.Sprintf(format, args...)}
}
