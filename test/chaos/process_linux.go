package chaos

import "syscall"

// processSysProcAttr makes the kernel kill the process when the test
// binary dies, so that a crashed or interrupted test leaves no process behind.
func processSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
