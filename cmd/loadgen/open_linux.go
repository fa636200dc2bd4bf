package main

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// openLoop sends requests at a fixed arrival rate, on a schedule that does
// not wait for answers: request i is due at start + i/rate. Latency is
// measured from the due time, so a slow answer that delays later requests
// (on a busy connection, or for want of one) counts against them too.
//
// It is one event loop on one OS thread, as wrk2's are: non-blocking
// sockets, epoll, and a periodic timerfd in the same epoll set that wakes
// it every tick to send what has come due. Goroutines parked in Go's
// poller cost a futile read, a park and a wake per answer: 60 µs of CPU
// per request here, so at half a server's peak the client fell behind its
// own schedule and its lag decided the p99. This loop spends a write, a
// read and a share of one epoll_wait.
//
// It is not vegeta's attacker either: vegeta paces with time.Sleep, which
// wakes up to a millisecond late here, so its requests leave late and in
// bursts; it measures latency from when a request left rather than when
// it was due; and its net/http client costs more CPU per request still.
func openLoop(p plan) result {
	total := int(p.rate * p.duration.Seconds())
	if l := p.limit(); l >= 0 && l < total {
		total = l
	}
	interval := time.Duration(float64(time.Second) / p.rate)
	start := time.Now().Add(20 * time.Millisecond) // let the connections open
	due := func(i int) time.Time { return start.Add(time.Duration(i) * interval) }
	deadline := due(total).Add(drainGrace)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := &worker{latency: make([]time.Duration, 0, total), lag: make([]time.Duration, 0, total)}
	fail := func(err error) result {
		w.errors += int64(total - len(w.latency))
		w.lastErr = err
		return summarize("open", p, start, []*worker{w}, total)
	}
	l, err := newLoop(p.addr, p.conns, p.tick)
	if err != nil {
		return fail(err)
	}
	defer l.close()

	var queue []int // due, waiting for a free connection
	next, inFlight := 0, 0
	events := make([]unix.EpollEvent, p.conns+1)
	for next < total || len(queue) > 0 || inFlight > 0 {
		n, err := unix.EpollWait(l.epfd, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fail(fmt.Errorf("epoll_wait: %w", err))
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == l.tfd {
				l.drainTimer()
				continue
			}
			c := l.byFd[int(ev.Fd)]
			if c == nil || c.fd < 0 {
				continue
			}
			wasBusy := c.busy
			status, err := c.receive()
			switch {
			case err != nil:
				if wasBusy {
					inFlight--
					w.errors++
					w.lastErr = err
				}
				if err := l.redial(c); err != nil {
					w.lastErr = err
				}
			case status > 0:
				inFlight--
				w.latency = append(w.latency, now.Sub(c.due))
				if status < len(w.status) {
					w.status[status]++
				}
				w.last = now
				if !c.keepAlive {
					if err := l.redial(c); err != nil {
						w.lastErr = err
					}
				}
			}
		}
		if now.After(deadline) {
			w.errors += int64(inFlight + len(queue) + total - next)
			w.lastErr = fmt.Errorf("%d requests unanswered %s after the last was due", inFlight, drainGrace)
			break
		}
		for ; next < total && !due(next).After(now); next++ {
			queue = append(queue, next)
		}
		for len(queue) > 0 {
			c := l.idle()
			if c == nil {
				break
			}
			i := queue[0]
			queue = queue[1:]
			at := due(i)
			w.lag = append(w.lag, now.Sub(at))
			if err := c.send(p.requests.at(i), at); err != nil {
				w.errors++
				w.lastErr = err
				if err := l.redial(c); err != nil {
					w.lastErr = err
				}
				continue
			}
			inFlight++
		}
		if len(queue) == 0 {
			queue = queue[:0:0] // let the sent prefix go
		}
	}
	return summarize("open", p, start, []*worker{w}, total)
}

// loop is the event loop's connections, its epoll set and its timer.
type loop struct {
	addr  string
	epfd  int
	tfd   int
	conns []*rawConn
	byFd  map[int]*rawConn
}

func newLoop(addr string, conns int, tick time.Duration) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	l := &loop{addr: addr, epfd: epfd, tfd: -1, byFd: map[int]*rawConn{}}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	l.tfd = tfd
	ts := unix.NsecToTimespec(int64(tick))
	if err := unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		l.close()
		return nil, fmt.Errorf("timerfd_settime: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tfd)}); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	for range conns {
		c := &rawConn{fd: -1, buf: make([]byte, 0, 4096)}
		l.conns = append(l.conns, c)
		if err := l.dial(c); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// dial connects c (blocking, through Go's dialer) and hands its socket to
// the loop, non-blocking.
func (l *loop) dial(c *rawConn) error {
	nc, err := net.DialTimeout("tcp", l.addr, 2*time.Second)
	if err != nil {
		return err
	}
	tc := nc.(*net.TCPConn)
	tc.SetNoDelay(true)
	f, err := tc.File() // a duplicate descriptor of the same socket
	nc.Close()
	if err != nil {
		return err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return err
	}
	c.fd, c.busy, c.buf = fd, false, c.buf[:0]
	l.byFd[fd] = c
	return nil
}

// redial closes c and connects it again; c stays out of use if that fails.
func (l *loop) redial(c *rawConn) error {
	l.drop(c)
	return l.dial(c)
}

func (l *loop) drop(c *rawConn) {
	if c.fd >= 0 {
		delete(l.byFd, c.fd)
		unix.Close(c.fd) // closing removes it from the epoll set
		c.fd = -1
	}
	c.busy = false
}

// idle returns a connection with no request in flight, or nil.
func (l *loop) idle() *rawConn {
	for _, c := range l.conns {
		if c.fd >= 0 && !c.busy {
			return c
		}
	}
	return nil
}

func (l *loop) drainTimer() {
	var b [8]byte
	unix.Read(l.tfd, b[:])
}

func (l *loop) close() {
	for _, c := range l.conns {
		l.drop(c)
	}
	if l.tfd >= 0 {
		unix.Close(l.tfd)
	}
	unix.Close(l.epfd)
}

// rawConn is one keep-alive connection of the loop.
type rawConn struct {
	fd        int
	busy      bool
	due       time.Time // of the request in flight
	keepAlive bool      // of the last answer
	buf       []byte    // what has arrived of the answer in flight
}

var errClosed = errors.New("connection closed by the server")

// send writes req whole; a request that does not fit the socket's buffer
// at once is an error (requests here are a few hundred bytes).
func (c *rawConn) send(req []byte, due time.Time) error {
	n, err := unix.Write(c.fd, req)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if n != len(req) {
		return fmt.Errorf("write: %d of %d bytes", n, len(req))
	}
	c.busy, c.due, c.buf = true, due, c.buf[:0]
	return nil
}

// receive reads what has arrived and returns the answer's status once it
// is whole, or 0 while it is not. Bytes with no request in flight, or a
// closed connection, are errors.
func (c *rawConn) receive() (int, error) {
	var scratch [16 << 10]byte
	for {
		n, err := unix.Read(c.fd, scratch[:])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return 0, errClosed
		}
		c.buf = append(c.buf, scratch[:n]...)
		if n < len(scratch) {
			break
		}
	}
	if !c.busy {
		return 0, errors.New("the server answered with no request in flight")
	}
	status, n, keep, err := parseResponse(c.buf)
	if err != nil || n == 0 {
		return 0, err
	}
	if n != len(c.buf) {
		return 0, errors.New("the server sent more than one answer")
	}
	c.busy, c.keepAlive, c.buf = false, keep, c.buf[:0]
	return status, nil
}
