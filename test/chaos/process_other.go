//go:build !linux

package chaos

import "syscall"

// workerSysProcAttr is nil where the kernel cannot tie the worker's life to
// the test binary's.
func workerSysProcAttr() *syscall.SysProcAttr { return nil }
