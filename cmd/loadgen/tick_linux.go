package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// newTicker returns a wait that blocks until the next multiple of every
// since the first call, and a stop. It reads a periodic timerfd through
// Go's network poller: the kernel's high-resolution timer wakes it within
// microseconds, where Go's own timers may wake a millisecond late, and a
// waiting goroutine holds no P, so a load generator pinned to one CPU
// (GOMAXPROCS=1) keeps serving its connections meanwhile.
func newTicker(every time.Duration) (wait func() error, stop func(), err error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("timerfd_create: %w", err)
	}
	ts := unix.NsecToTimespec(int64(every))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("timerfd_settime: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: served by the poller
	var buf [8]byte
	wait = func() error {
		n, err := f.Read(buf[:])
		if err == nil && n != len(buf) {
			err = fmt.Errorf("timerfd: read %d bytes", n)
		}
		return err // buf holds the count of expirations; the scheduler reads the clock instead
	}
	return wait, func() { f.Close() }, nil
}
