package devcourier

import "syscall"

// dieWithParent makes the kernel kill `courier dev` when the test process
// dies (a test binary's timeout, a kill -9), so no stack outlives its tests.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
