//go:build !linux

package devcourier

import "syscall"

// dieWithParent is nil where the kernel cannot tie the process's life to
// the test's; Stop ends it as before.
func dieWithParent() *syscall.SysProcAttr { return nil }
