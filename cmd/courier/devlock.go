//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// devLockFile, in the data directory, is locked by the `courier dev` using
// the directory and holds its PID.
const devLockFile = "courier.lock"

// lockDataDir takes an exclusive lock on dir for this process, or fails
// naming the process that holds it: two embedded Temporal servers on one
// directory fight over its shard and two brokers share its segments. The
// lock is flock(2) on the lock file, held until the returned release or the
// process's end, so the file a killed dev left behind blocks nothing.
func lockDataDir(dir string) (release func() error, err error) {
	path := filepath.Join(dir, devLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "process " + strconv.Itoa(pid)
			}
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by %s (another courier dev); stop it or use --data-dir", dir, holder)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	// Closing the file releases the lock; the PID stays for the next
	// holder to overwrite.
	return f.Close, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}
