//go:build !linux

package main

import "time"

// newTicker falls back to Go's timers, which may wake up to about a
// millisecond late; open-loop latencies then include that lateness.
func newTicker(every time.Duration) (wait func() error, stop func(), err error) {
	t := time.NewTicker(every)
	return func() error { <-t.C; return nil }, t.Stop, nil
}
