package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
)

// pin runs a command on a set of CPUs through taskset; its zero value runs
// it anywhere.
type pin struct {
	taskset string // path of taskset
	cpus    string // taskset's list, "1" or "0-2"
}

// command is exec.CommandContext(ctx, bin, args...), on the pin's CPUs.
// taskset execs bin in its own process, so the pid is bin's.
func (p pin) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if p.cpus == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", p.cpus, bin}, args...)...)
}

func (p pin) String() string {
	if p.cpus == "" {
		return "any CPU"
	}
	return "CPU " + p.cpus
}

// splitCPUs gives the servers under test the last CPU and the load client
// the others, so the client never takes the server's CPU time and a
// latency measures the server, not the two fighting over a core. It
// returns zero pins, and why, where that is not possible.
//
// Not real-time priority as well: a Go process under SCHED_FIFO that
// saturates its CPU leaves the rest of the machine 5% of it, and two of its
// threads spinning on one CPU at one priority never yield to each other.
func splitCPUs() (server, client pin, why string) {
	n := runtime.NumCPU()
	if n < 2 {
		return pin{}, pin{}, "one CPU: client and server share it"
	}
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pin{}, pin{}, "taskset not found (util-linux): client and server share the CPUs"
	}
	client = pin{taskset: path, cpus: "0"}
	if n > 2 {
		client.cpus = fmt.Sprintf("0-%d", n-2)
	}
	return pin{taskset: path, cpus: fmt.Sprint(n - 1)}, client, ""
}
