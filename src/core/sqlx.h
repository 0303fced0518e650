/* SPDX-License-Identifier: MIT */
/* sqlx.h -- what the state store and the SQLite sink share about SQLite. */
#ifndef CAIRN_SQLX_H
#define CAIRN_SQLX_H

#include <sqlite3.h>

/* sqlite3_exec for a connection's setup (journal mode, CREATE ... IF NOT
 * EXISTS), which every statement of must be safe to run again. Two
 * processes opening one new database together (two jobs sharing a state
 * directory or a warehouse) both switch it to WAL, and SQLite answers one
 * of them SQLITE_BUSY at once, without the busy handler: this runs sql
 * again until it gets through or ms have passed. Returns the last
 * sqlite3_exec code. */
int cairn_sqlite_setup(sqlite3 *db, const char *sql, int ms);

/* *has = whether table tbl of db's main schema has a column by that name
 * (as SQLite compares names: ASCII case folded). Returns a SQLite code. */
int cairn_sqlite_has_column(sqlite3 *db, const char *tbl, const char *name,
                            int *has);

/* Give table tbl of db's main schema the column name, of type decl (the
 * SQL after the name: " TEXT", or "" for none), unless it has one by that
 * name. A missing column is looked for again in a write transaction
 * (BEGIN IMMEDIATE, waiting up to ms for the lock) and added in it:
 * another process opening the same database (two jobs started together
 * after an upgrade) may be adding it too, and a second ALTER TABLE would
 * fail ("duplicate column name"). *added (may be NULL): 1 when this call
 * added it. Returns a SQLite code. On failure the connection's error says
 * why, and a transaction this call began may still be open: the caller
 * reads the error, then rolls back (or closes the connection, which
 * does). */
int cairn_sqlite_add_column(sqlite3 *db, const char *tbl, const char *name,
                            const char *decl, int ms, int *added);

/* The connection's last error for a message: sqlite3_errmsg and, when the
 * operating system's error is behind it, that too ("disk I/O error: No
 * space left on device"), or else, for an I/O or read-only error, why
 * the file or its directory cannot be written ("attempt to write a
 * readonly database: Read-only file system"); "out of memory" when db is
 * NULL (sqlite3_open could not allocate it). The text lives until this
 * thread's next call. */
const char *cairn_sqlite_why(sqlite3 *db);
/* The same, for the database at path (NULL: the connection's main file),
 * which a connection that failed to open does not name. */
const char *cairn_sqlite_why_at(sqlite3 *db, const char *path);

#endif
