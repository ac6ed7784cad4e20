package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// exitLocked is `run`'s status when another daemon watches the registry.
const exitLocked = 4

// registryLock is the exclusive lock a daemon (`run`, `run --once`) holds
// on its registry, so two never repair the same containers. It is a flock
// on "<registry>.lock": the kernel drops it when the process dies, even by
// SIGKILL, so a crash never leaves a stale lock. The file holds the
// holder's pid, for the message the next one prints.
type registryLock struct{ f *os.File }

// lockRegistry takes the lock or returns an error, with exit status 4,
// that names the pid holding it. It touches nothing else.
func lockRegistry(dbPath string) (*registryLock, error) {
	path := dbPath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create registry folder for lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, withCode(exitLocked, fmt.Errorf("another container-watchdog run (pid %s) already watches registry %s (lock %s); stop it first", holder(f), dbPath, path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &registryLock{f: f}, nil
}

// holder reads the pid the lock's holder wrote.
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := string(bytes.TrimSpace(b[:n])); pid != "" {
		return pid
	}
	return "unknown"
}

// Unlock releases the lock; the file stays for the next holder.
func (l *registryLock) Unlock() error { return l.f.Close() }
