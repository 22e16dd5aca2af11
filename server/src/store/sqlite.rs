//! The embedded store: one SQLite file (`<data dir>/edgesketch.sqlite3`) in WAL mode with
//! `synchronous=FULL`, so a commit that returned is on disk. One connection writes; a small pool
//! of connections reads (WAL readers never block the writer).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{CommitBatch, KeyInfo, Store, StoreError, StoredSketch, Usage};

/// The schema's version, kept in `meta`. Version 2 added `deltas`; a version 1 file is upgraded
/// in place (the table is new, nothing else changed). A server that knows only version 1 refuses
/// a version 2 file: it would ignore the deltas.
const SCHEMA_VERSION: i64 = 2;
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
    /// The database's `-wal` file.
    wal: std::path::PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The writer's connection.
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError("writer lock poisoned".into()))
    }

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
                 );
                 -- Entries merged into a sketch since it was last written whole, numbered
                 -- 1, 2, 3, ... per key in the order they merged. Clustered by key (no rowid,
                 -- no second index): an append writes one b-tree's page, not two.
                 CREATE TABLE IF NOT EXISTS deltas (
                     tenant TEXT NOT NULL,
                     key TEXT NOT NULL,
                     id INTEGER NOT NULL,
                     bytes BLOB NOT NULL,
                     updated_ms INTEGER NOT NULL,
                     PRIMARY KEY (tenant, key, id)
                 ) WITHOUT ROWID;",
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
            Some(1) => {
                writer
                    .execute(
                        "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
                        [SCHEMA_VERSION],
                    )
                    .map_err(err("upgrade schema version"))?;
            }
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
            wal: dir.join(format!("{FILE_NAME}-wal")),
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
    fn load_sketch(&self, tenant: &str, key: &str) -> Result<Option<StoredSketch>, StoreError> {
        self.read(|c| {
            // One read transaction: a commit that writes the key whole and drops its deltas
            // between the two statements must not be seen half.
            let tx = c.unchecked_transaction().map_err(err("load sketch"))?;
            let bytes: Option<Vec<u8>> = tx
                .prepare_cached("SELECT bytes FROM sketches WHERE tenant = ?1 AND key = ?2")
                .and_then(|mut s| s.query_row(params![tenant, key], |r| r.get(0)).optional())
                .map_err(err("load sketch"))?;
            let Some(bytes) = bytes else {
                return Ok(None);
            };
            let deltas = tx
                .prepare_cached(
                    "SELECT bytes FROM deltas WHERE tenant = ?1 AND key = ?2 ORDER BY id",
                )
                .and_then(|mut s| {
                    s.query_map(params![tenant, key], |r| r.get(0))?
                        .collect::<Result<Vec<Vec<u8>>, _>>()
                })
                .map_err(err("load deltas"))?;
            tx.commit().map_err(err("load sketch"))?;
            Ok(Some(StoredSketch { bytes, deltas }))
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
        family: Option<u8>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        // `key >= prefix` plus a byte-wise prefix test (substr on the BLOB form, so no LIKE
        // escaping and no collation surprises).
        let start = after.unwrap_or(prefix);
        let op = if after.is_some() { ">" } else { ">=" };
        // Only when asked, so that the planner picks `sketches_by_family` for it and the primary
        // key otherwise.
        let of_family = if family.is_some() {
            "AND s.family = ?6"
        } else {
            "AND ?6 IS NULL"
        };
        let sql = format!(
            // The deltas' totals per listed key only (a range of the deltas' primary key each),
            // not grouped over all of the tenant's deltas.
            "SELECT s.key, s.family,
                    length(s.bytes) + (SELECT coalesce(sum(length(d.bytes)), 0) FROM deltas AS d
                                       WHERE d.tenant = s.tenant AND d.key = s.key),
                    max(s.updated_ms, (SELECT coalesce(max(d.updated_ms), 0) FROM deltas AS d
                                       WHERE d.tenant = s.tenant AND d.key = s.key))
             FROM sketches AS s
             WHERE s.tenant = ?1 AND s.key {op} ?2
               AND substr(CAST(s.key AS BLOB), 1, ?3) = CAST(?4 AS BLOB) {of_family}
             ORDER BY s.key LIMIT ?5"
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql).map_err(err("list keys"))?;
            let rows = stmt
                .query_map(
                    params![
                        tenant,
                        start,
                        prefix.len() as i64,
                        prefix,
                        limit as i64,
                        family
                    ],
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
                "SELECT count(*), coalesce(sum(length(bytes)), 0)
                        + (SELECT coalesce(sum(length(bytes)), 0) FROM deltas WHERE tenant = ?1)
                 FROM sketches WHERE tenant = ?1",
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
        let mut conn = self.writer()?;
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
            let mut drop_deltas = tx
                .prepare_cached("DELETE FROM deltas WHERE tenant = ?1 AND key = ?2")
                .map_err(err("prepare delta drop"))?;
            for s in &batch.sketches {
                put.execute(params![s.tenant, s.key, s.family, s.bytes, s.updated_ms])
                    .map_err(err("write sketch"))?;
                drop_deltas
                    .execute(params![s.tenant, s.key])
                    .map_err(err("drop deltas"))?;
            }
            let mut append = tx
                .prepare_cached(
                    "INSERT INTO deltas (tenant, key, id, bytes, updated_ms)
                     VALUES (?1, ?2,
                             (SELECT coalesce(max(id), 0) + 1 FROM deltas
                              WHERE tenant = ?1 AND key = ?2),
                             ?3, ?4)",
                )
                .map_err(err("prepare delta write"))?;
            for d in &batch.deltas {
                append
                    .execute(params![d.tenant, d.key, d.bytes, d.updated_ms])
                    .map_err(err("write delta"))?;
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
        let conn = self.writer()?;
        let result: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(err("integrity check"))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError(format!("integrity check failed: {result}")))
        }
    }

    /// Copies the write-ahead log into the database file and empties it (`TRUNCATE`), so that
    /// after a clean stop `edgesketch.sqlite3` alone holds every commit.
    fn log_bytes(&self) -> Option<u64> {
        // Absent between a clean stop and the next write.
        Some(std::fs::metadata(&self.wal).map_or(0, |m| m.len()))
    }

    fn close(&self) -> Result<(), StoreError> {
        let conn = self.writer()?;
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(err("checkpoint"))?;
        if busy != 0 {
            return Err(StoreError(
                "checkpoint: a reader held the log; it stays beside the database file".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SketchWrite;

    fn write<'a>(key: &'a str, bytes: &'a [u8], updated_ms: i64) -> SketchWrite<'a> {
        SketchWrite {
            tenant: "t",
            key,
            family: 1,
            bytes,
            updated_ms,
        }
    }

    /// Commits whole sketches and deltas of tenant `t`.
    fn commit(store: &SqliteStore, sketches: Vec<SketchWrite<'_>>, deltas: Vec<SketchWrite<'_>>) {
        store
            .commit(&CommitBatch {
                sketches,
                deltas,
                ..CommitBatch::default()
            })
            .unwrap();
    }

    /// Deltas come back in the order they were appended, count in the key's listed size, its
    /// last change and the tenant's usage, and writing the key whole drops them.
    #[test]
    fn deltas_append_in_order_and_a_whole_write_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let whole = [write("k", &[1; 100], 10), write("other", &[2; 7], 10)];
        commit(&store, whole.to_vec(), vec![]);
        for (i, ms) in [(3u8, 11), (1, 12), (2, 13)] {
            commit(&store, vec![], vec![write("k", &[i; 20], ms)]);
        }
        let stored = store.load_sketch("t", "k").unwrap().unwrap();
        assert_eq!(stored.bytes, vec![1; 100]);
        assert_eq!(stored.deltas, vec![vec![3; 20], vec![1; 20], vec![2; 20]]);
        assert_eq!(stored.stored_len(), 160);
        let listed = store.list_keys("t", "", None, None, 10).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|k| (k.key.as_str(), k.bytes, k.updated_ms))
                .collect::<Vec<_>>(),
            vec![("k", 160, 13), ("other", 7, 10)]
        );
        assert_eq!(
            store.usage("t").unwrap(),
            Usage {
                keys: 2,
                bytes: 167
            }
        );
        commit(&store, vec![write("k", &[9; 50], 14)], vec![]);
        let stored = store.load_sketch("t", "k").unwrap().unwrap();
        assert_eq!((stored.bytes, stored.deltas.len()), (vec![9; 50], 0));
        assert_eq!(store.usage("t").unwrap().bytes, 57);
    }

    /// A file of schema version 1 (no deltas table) opens and is upgraded in place, keeping its
    /// sketches; a version this server does not know is refused.
    #[test]
    fn a_version_1_file_is_upgraded_and_an_unknown_version_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            commit(&store, vec![write("k", &[1; 10], 10)], vec![]);
        }
        let path = dir.path().join(FILE_NAME);
        let set_version = |sql: &str| Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        set_version("DROP TABLE deltas; UPDATE meta SET value = 1 WHERE name = 'schema_version';");
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            commit(&store, vec![], vec![write("k", &[2; 5], 11)]);
            let stored = store.load_sketch("t", "k").unwrap().unwrap();
            assert_eq!(
                (stored.bytes, stored.deltas),
                (vec![1; 10], vec![vec![2; 5]])
            );
        }
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        set_version("UPDATE meta SET value = 3 WHERE name = 'schema_version';");
        let refused = SqliteStore::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("schema version 3"), "{refused}");
    }
}
