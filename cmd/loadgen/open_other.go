//go:build !linux

package main

import (
	"errors"
	"time"
)

// openLoop needs epoll and timerfd: the open loop runs on Linux only.
func openLoop(p plan) result {
	total := int(p.rate * p.duration.Seconds())
	w := &worker{errors: int64(total), lastErr: errors.New("the open loop (-rate) runs on Linux only")}
	return summarize("open", p, time.Now(), []*worker{w}, total)
}
