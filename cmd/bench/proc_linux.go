package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child end if the bench itself is killed outright
// (SIGKILL leaves no chance to clean up).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
