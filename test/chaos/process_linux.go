package chaos

import "syscall"

// workerSysProcAttr makes the kernel kill the worker process when the test
// binary dies, so that a crashed or interrupted test leaves no worker behind.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
