//go:build !linux

package main

import "time"

// preciseSleeper falls back to Go's timers, which may wake up to about a
// millisecond late; open-loop latencies then include that lateness.
func preciseSleeper() func(time.Duration) { return time.Sleep }
