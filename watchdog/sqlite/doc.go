// Package sqlite implements the registry on SQLite (mattn/go-sqlite3): the
// agents and their instances, the last observed state of each container and
// the event log.
//
// Migrations are embedded and applied in order on Open, tracked with
// PRAGMA user_version. The database runs in WAL mode with a busy timeout and
// immediate transactions, so the daemon and CLI commands can write at once
// without SQLITE_BUSY surprises; every write is one transaction.
package sqlite
