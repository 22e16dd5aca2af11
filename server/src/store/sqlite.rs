//! The embedded store: one SQLite file (`<data dir>/edgesketch.sqlite3`) in WAL mode with
//! `synchronous=FULL`, so a commit that returned is on disk. One connection writes; a small pool
//! of connections reads (WAL readers never block the writer).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{CommitBatch, KeyInfo, Store, StoreError, Usage};

/// The schema's version, kept in `meta`.
const SCHEMA_VERSION: i64 = 1;
const READERS: usize = 4;

/// The file inside the data directory.
pub const FILE_NAME: &str = "edgesketch.sqlite3";

fn err(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError(format!("{context}: {e}"))
}

/// SQLite store.
pub struct SqliteStore {
    /// Held for the store's life: a second server on the same directory would keep its own
    /// ledger in memory and break exactly-once, so it is refused at startup.
    _lock: std::fs::File,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create data dir {}: {e}", dir.display())))?;
        let lock_path = dir.join("LOCK");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            StoreError(format!(
                "{} is in use by another edgesketch-server process (it holds {})",
                dir.display(),
                lock_path.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let writer = Connection::open(&path).map_err(err("open"))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 10000;
                 CREATE TABLE IF NOT EXISTS meta (
                     name TEXT PRIMARY KEY,
                     value INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS sketches (
                     tenant TEXT NOT NULL,
                     key TEXT NOT NULL,
                     family INTEGER NOT NULL,
                     bytes BLOB NOT NULL,
                     updated_ms INTEGER NOT NULL,
                     PRIMARY KEY (tenant, key)
                 );
                 CREATE INDEX IF NOT EXISTS sketches_by_family ON sketches (family, tenant, key);
                 CREATE TABLE IF NOT EXISTS ledgers (
                     tenant TEXT PRIMARY KEY,
                     bytes BLOB NOT NULL
                 );",
            )
            .map_err(err("create schema"))?;
        let version: Option<i64> = writer
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("read schema version"))?;
        match version {
            None => {
                writer
                    .execute(
                        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION],
                    )
                    .map_err(err("write schema version"))?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(StoreError(format!(
                    "{} has schema version {other}; this server knows {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        let readers = (0..READERS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(err("open reader"))?;
                c.execute_batch("PRAGMA busy_timeout = 10000;")
                    .map_err(err("configure reader"))?;
                Ok(Mutex::new(c))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SqliteStore {
            _lock: lock,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take a free reader if there is one, else wait for the one it is our turn to use.
        for i in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return f(&conn);
            }
        }
        let conn = self.readers[start % self.readers.len()]
            .lock()
            .map_err(|_| StoreError("reader lock poisoned".into()))?;
        f(&conn)
    }
}

impl Store for SqliteStore {
    fn load_sketch(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT bytes FROM sketches WHERE tenant = ?1 AND key = ?2")
                .and_then(|mut s| s.query_row(params![tenant, key], |r| r.get(0)).optional())
                .map_err(err("load sketch"))
        })
    }

    fn load_ledger(&self, tenant: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT bytes FROM ledgers WHERE tenant = ?1")
                .and_then(|mut s| s.query_row(params![tenant], |r| r.get(0)).optional())
                .map_err(err("load ledger"))
        })
    }

    fn list_keys(
        &self,
        tenant: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        // `key >= prefix` plus a byte-wise prefix test (substr on the BLOB form, so no LIKE
        // escaping and no collation surprises).
        let start = after.unwrap_or(prefix);
        let op = if after.is_some() { ">" } else { ">=" };
        let sql = format!(
            "SELECT key, family, length(bytes), updated_ms FROM sketches
             WHERE tenant = ?1 AND key {op} ?2
               AND substr(CAST(key AS BLOB), 1, ?3) = CAST(?4 AS BLOB)
             ORDER BY key LIMIT ?5"
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql).map_err(err("list keys"))?;
            let rows = stmt
                .query_map(
                    params![tenant, start, prefix.len() as i64, prefix, limit as i64],
                    |r| {
                        Ok(KeyInfo {
                            key: r.get(0)?,
                            family: r.get(1)?,
                            bytes: r.get::<_, i64>(2)? as u64,
                            updated_ms: r.get(3)?,
                        })
                    },
                )
                .map_err(err("list keys"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("list keys"))
        })
    }

    fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM sketches WHERE tenant = ?1",
                params![tenant],
                |r| {
                    Ok(Usage {
                        keys: r.get::<_, i64>(0)? as u64,
                        bytes: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .map_err(err("usage"))
        })
    }

    fn keys_of_families(
        &self,
        families: &[u8],
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (tenant, key) = after.unwrap_or(("", ""));
        let list = families
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT tenant, key FROM sketches WHERE family IN ({list}) AND (tenant, key) > (?1, ?2)
             ORDER BY tenant, key LIMIT ?3"
        );
        self.read(|c| {
            let mut stmt = c.prepare(&sql).map_err(err("maintenance keys"))?;
            let rows = stmt
                .query_map(params![tenant, key, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(err("maintenance keys"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("maintenance keys"))
        })
    }

    fn commit(&self, batch: &CommitBatch<'_>) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError("writer lock poisoned".into()))?;
        let tx = conn.transaction().map_err(err("begin"))?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO sketches (tenant, key, family, bytes, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant, key) DO UPDATE SET
                       family = excluded.family, bytes = excluded.bytes,
                       updated_ms = excluded.updated_ms",
                )
                .map_err(err("prepare sketch write"))?;
            for s in &batch.sketches {
                put.execute(params![s.tenant, s.key, s.family, s.bytes, s.updated_ms])
                    .map_err(err("write sketch"))?;
            }
            let mut ledger = tx
                .prepare_cached(
                    "INSERT INTO ledgers (tenant, bytes) VALUES (?1, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET bytes = excluded.bytes",
                )
                .map_err(err("prepare ledger write"))?;
            for (tenant, bytes) in &batch.ledgers {
                ledger
                    .execute(params![tenant, bytes])
                    .map_err(err("write ledger"))?;
            }
        }
        tx.commit().map_err(err("commit"))
    }

    fn check(&self) -> Result<(), StoreError> {
        let conn = self
            .writer
            .lock()
            .map_err(|_| StoreError("writer lock poisoned".into()))?;
        let result: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(err("integrity check"))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError(format!("integrity check failed: {result}")))
        }
    }
}
