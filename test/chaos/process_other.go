//go:build !linux

package chaos

import "syscall"

// processSysProcAttr is nil where the kernel cannot tie the process's life to
// the test binary's.
func processSysProcAttr() *syscall.SysProcAttr { return nil }
