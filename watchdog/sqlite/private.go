package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The registry holds notification credentials (webhook secrets, tokens in
// service URLs), so it is private to its owner: the folder it creates is
// 0700 and the database with its -wal and -shm files is 0600. SQLite gives
// the -wal and -shm files the database file's mode when it creates them.

// privateFile creates path as an empty 0600 file when it does not exist
// (SQLite takes an empty file for a new database) and makes it 0600 when it
// does.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create registry %s: %w", path, err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("make registry %s private: %w", path, err)
	}
	return nil
}

// privateSidecars makes the -wal and -shm files 0600 when they exist (left
// by an older version that created them with a wider mode).
func privateSidecars(path string) error {
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}
