//! Storage for the transparency log ([`parcel_tlog::LogStorage`]).
//!
//! Embedded default: its own SQLite file (`DATA_DIR/log.db`), so log
//! commits never wait behind vault writes; one writer connection, WAL,
//! `synchronous = FULL`. PostgreSQL: tables `tlog_*` in the shared
//! database; whoever sequences a batch holds a transaction-scoped advisory
//! lock, so several servers append to one log and exactly one of them
//! extends the tree at a time.
//!
//! Both write a batch's entries, changed tiles and new tree head in one
//! transaction: after a crash the tree and the entries always agree.

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use parcel_tlog::log::{LogStorage, Sequenced};
use parcel_tlog::tree::TileSource;
use parcel_tlog::{Hash, LogError};
use postgres::NoTls;
use r2d2::Pool;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::OptionalExtension as _;

/// The log's SQLite file inside the data directory.
pub const LOG_FILE: &str = "log.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tlog_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, root BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_entries (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE IF NOT EXISTS tlog_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, note BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_details (idx BIGINT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT, expires_at BIGINT NOT NULL, data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS tlog_details_subject ON tlog_details (tenant, subject);
CREATE INDEX IF NOT EXISTS tlog_details_expiry ON tlog_details (expires_at);
";

/// Advisory lock key of the log's sequencer ("tlog" in ASCII).
const SEQUENCER_LOCK: i64 = 0x746c_6f67;

fn lite(e: impl std::fmt::Display) -> LogError {
    LogError::Storage(format!("sqlite: {e}"))
}

fn pg(e: impl std::fmt::Display) -> LogError {
    LogError::Storage(format!("postgres: {e}"))
}

fn to_hash(bytes: &[u8], what: &str) -> Result<Hash, LogError> {
    let b: [u8; 32] = bytes
        .try_into()
        .map_err(|_| LogError::Corrupt(format!("{what}: stored root is not 32 bytes")))?;
    Ok(Hash(b))
}

fn idx(n: u64) -> Result<i64, LogError> {
    i64::try_from(n).map_err(|_| LogError::Storage(format!("index {n} is out of range")))
}

/// Opens the log storage named by a database URL: PostgreSQL for
/// `postgres://…`, else the SQLite file in `data_dir`.
pub fn open_log(url: &str, data_dir: &Path) -> Result<std::sync::Arc<dyn LogStorage>, LogError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgLog::open(url, None)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        let dir = Path::new(path).parent().unwrap_or(Path::new("."));
        Ok(std::sync::Arc::new(SqliteLog::open(&dir.join(LOG_FILE))?))
    } else {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| LogError::Storage(format!("{}: {e}", data_dir.display())))?;
        Ok(std::sync::Arc::new(SqliteLog::open(
            &data_dir.join(LOG_FILE),
        )?))
    }
}

/// The embedded log storage.
pub struct SqliteLog {
    writer: Mutex<rusqlite::Connection>,
    readers: Pool<SqliteConnectionManager>,
    _checkpoints: crate::checkpointer::Checkpointer,
}

impl std::fmt::Debug for SqliteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteLog")
    }
}

const PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; PRAGMA cache_size = -32768;";

struct LiteTiles<'a>(&'a rusqlite::Connection);

impl TileSource for LiteTiles<'_> {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        self.0
            .prepare_cached("SELECT data FROM tlog_tiles WHERE level = ? AND idx = ?")
            .and_then(|mut s| {
                s.query_row(rusqlite::params![level, idx(index).unwrap_or(-1)], |r| {
                    r.get(0)
                })
                .optional()
            })
            .map_err(lite)
    }
}

impl SqliteLog {
    /// Opens (creating if needed) the log file.
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let at = |e: rusqlite::Error| LogError::Storage(format!("{}: {e}", path.display()));
        let writer = rusqlite::Connection::open(path).map_err(at)?;
        writer.execute_batch(PRAGMAS).map_err(at)?;
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(at)?;
        // Checkpoints run in the background, not in the group commit.
        writer
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {}",
                crate::checkpointer::BACKSTOP_PAGES
            ))
            .map_err(at)?;
        writer
            .execute_batch(&SCHEMA.replace("BYTEA", "BLOB"))
            .map_err(at)?;
        let manager = SqliteConnectionManager::file(path).with_init(|c| c.execute_batch(PRAGMAS));
        let readers = Pool::builder()
            .max_size(8)
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| LogError::Storage(format!("{}: {e}", path.display())))?;
        let checkpoints = crate::checkpointer::spawn(path, "tlog-checkpoint")
            .map_err(|e| LogError::Storage(format!("checkpoint thread: {e}")))?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            _checkpoints: checkpoints,
        })
    }

    fn reader(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, LogError> {
        self.readers.get().map_err(lite)
    }
}

impl LogStorage for SqliteLog {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn sequence(
        &self,
        step: &mut dyn FnMut(u64, &dyn TileSource) -> Result<Sequenced, LogError>,
    ) -> Result<Sequenced, LogError> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(lite)?;
        let size: i64 = tx
            .prepare_cached("SELECT size FROM tlog_state WHERE id = 1")
            .and_then(|mut q| q.query_row([], |r| r.get(0)))
            .optional()
            .map_err(lite)?
            .unwrap_or(0);
        let seq = step(size as u64, &LiteTiles(&tx))?;
        if seq.first != size as u64 {
            return Err(LogError::Storage(format!(
                "batch starts at {} but the stored tree has {size} entries",
                seq.first
            )));
        }
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO tlog_entries (idx, data) VALUES (?, ?)")
                .map_err(lite)?;
            for (i, e) in seq.entries.iter().enumerate() {
                ins.execute(rusqlite::params![idx(seq.first + i as u64)?, e])
                    .map_err(lite)?;
            }
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO tlog_tiles (level, idx, data) VALUES (?, ?, ?) \
                     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                )
                .map_err(lite)?;
            for (level, index, data) in &seq.tiles {
                up.execute(rusqlite::params![level, idx(*index)?, data])
                    .map_err(lite)?;
            }
            let mut det = tx
                .prepare_cached(
                    "INSERT INTO tlog_details (idx, tenant, subject, expires_at, data) VALUES (?, ?, ?, ?, ?)",
                )
                .map_err(lite)?;
            for (i, d) in seq.details.iter().enumerate() {
                if let Some(d) = d {
                    det.execute(rusqlite::params![
                        idx(seq.first + i as u64)?,
                        d.tenant,
                        d.subject,
                        d.expires_at,
                        d.salted
                    ])
                    .map_err(lite)?;
                }
            }
        }
        let new_size = idx(seq.size)?;
        tx.prepare_cached(
            "INSERT INTO tlog_state (id, size, root) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root",
        )
        .and_then(|mut q| q.execute(rusqlite::params![new_size, &seq.root.0[..]]))
        .map_err(lite)?;
        tx.commit().map_err(lite)?;
        Ok(seq)
    }

    fn tree(&self) -> Result<(u64, Hash), LogError> {
        let conn = self.reader()?;
        let row: Option<(i64, Vec<u8>)> = conn
            .query_row("SELECT size, root FROM tlog_state WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(lite)?;
        match row {
            None => Ok((0, parcel_tlog::tree::empty_root())),
            Some((size, root)) => Ok((size as u64, to_hash(&root, "tlog_state")?)),
        }
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT idx, data FROM tlog_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            )
            .map_err(lite)?;
        let rows = stmt
            .query_map(rusqlite::params![idx(start)?, idx(end)?], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(lite)?;
        collect_entries(rows.map(|r| r.map_err(lite)), start, end)
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let conn = self.reader()?;
        LiteTiles(&conn).tile(level, index)
    }

    fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, LogError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT size, note FROM tlog_checkpoint WHERE id = 1",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
        .optional()
        .map_err(lite)
    }

    fn put_checkpoint(&self, size: u64, signed: &[u8]) -> Result<(), LogError> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT INTO tlog_checkpoint (id, size, note) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note \
             WHERE excluded.size >= tlog_checkpoint.size",
            rusqlite::params![idx(size)?, signed],
        )
        .map_err(lite)?;
        Ok(())
    }

    fn detail(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT data FROM tlog_details WHERE idx = ?",
            [idx(index)?],
            |r| r.get(0),
        )
        .optional()
        .map_err(lite)
    }

    fn expire_details(&self, now: i64) -> Result<u64, LogError> {
        self.delete_details("DELETE FROM tlog_details WHERE expires_at < ?", &[&now])
    }

    fn erase_details(&self, tenant: &str, subject: &str, below: u64) -> Result<u64, LogError> {
        self.delete_details(
            "DELETE FROM tlog_details WHERE tenant = ? AND subject = ? AND idx < ?",
            &[&tenant, &subject, &idx(below)?],
        )
    }
}

impl SqliteLog {
    fn delete_details(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<u64, LogError> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let n = conn.execute(sql, params).map_err(lite)?;
        Ok(n as u64)
    }
}

fn collect_entries(
    rows: impl Iterator<Item = Result<(i64, Vec<u8>), LogError>>,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, LogError> {
    let mut out = Vec::with_capacity((end - start) as usize);
    for row in rows {
        let (i, data) = row?;
        if i as u64 != start + out.len() as u64 {
            return Err(LogError::Corrupt(format!(
                "entry {}: missing from storage",
                start + out.len() as u64
            )));
        }
        out.push(data);
    }
    if out.len() as u64 != end - start {
        return Err(LogError::Corrupt(format!(
            "entry {}: missing from storage",
            start + out.len() as u64
        )));
    }
    Ok(out)
}

type PgManager = PostgresConnectionManager<NoTls>;

/// The log's storage in PostgreSQL.
#[derive(Clone)]
pub struct PgLog {
    pool: Pool<PgManager>,
}

impl std::fmt::Debug for PgLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgLog")
    }
}

struct PgTiles<'a, 'b>(RefCell<&'a mut postgres::Transaction<'b>>);

impl TileSource for PgTiles<'_, '_> {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let row = self
            .0
            .borrow_mut()
            .query_opt(
                "SELECT data FROM tlog_tiles WHERE level = $1 AND idx = $2",
                &[&i32::from(level), &idx(index)?],
            )
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }
}

impl PgLog {
    /// Connects and creates the tables if needed; `schema` (letters, digits,
    /// `_`) isolates tests.
    pub fn open(url: &str, schema: Option<&str>) -> Result<Self, LogError> {
        let pool = crate::pg_pool(url, schema, 8).map_err(LogError::Storage)?;
        let mut conn = pool.get().map_err(pg)?;
        let mut tx = conn.transaction().map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEQUENCER_LOCK])
            .map_err(pg)?;
        tx.batch_execute(SCHEMA).map_err(pg)?;
        tx.commit().map_err(pg)?;
        drop(conn);
        Ok(Self { pool })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PgManager>, LogError> {
        self.pool.get().map_err(pg)
    }
}

impl LogStorage for PgLog {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn sequence(
        &self,
        step: &mut dyn FnMut(u64, &dyn TileSource) -> Result<Sequenced, LogError>,
    ) -> Result<Sequenced, LogError> {
        let mut conn = self.conn()?;
        // READ COMMITTED, whatever the server's default: the size read after
        // the lock must see the previous holder's commit.
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()
            .map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEQUENCER_LOCK])
            .map_err(pg)?;
        let size: i64 = tx
            .query_opt("SELECT size FROM tlog_state WHERE id = 1", &[])
            .map_err(pg)?
            .map_or(0, |r| r.get(0));
        let seq = {
            let tiles = PgTiles(RefCell::new(&mut tx));
            step(size as u64, &tiles)?
        };
        if seq.first != size as u64 {
            return Err(LogError::Storage(format!(
                "batch starts at {} but the stored tree has {size} entries",
                seq.first
            )));
        }
        let first = idx(seq.first)?;
        let indexes: Vec<i64> = (0..seq.entries.len() as i64).map(|i| first + i).collect();
        tx.execute(
            "INSERT INTO tlog_entries (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&indexes, &seq.entries],
        )
        .map_err(pg)?;
        let levels: Vec<i32> = seq.tiles.iter().map(|t| i32::from(t.0)).collect();
        let tile_idx: Vec<i64> = seq
            .tiles
            .iter()
            .map(|t| idx(t.1))
            .collect::<Result<_, _>>()?;
        let data: Vec<&[u8]> = seq.tiles.iter().map(|t| t.2.as_slice()).collect();
        tx.execute(
            "INSERT INTO tlog_tiles (level, idx, data) \
             SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[]) \
             ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
            &[&levels, &tile_idx, &data],
        )
        .map_err(pg)?;
        let with_detail: Vec<(i64, &parcel_tlog::log::StoredDetail)> = seq
            .details
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.as_ref().map(|d| (first + i as i64, d)))
            .collect();
        if !with_detail.is_empty() {
            let d_idx: Vec<i64> = with_detail.iter().map(|d| d.0).collect();
            let d_tenant: Vec<&str> = with_detail.iter().map(|d| d.1.tenant.as_str()).collect();
            let d_subject: Vec<Option<&str>> =
                with_detail.iter().map(|d| d.1.subject.as_deref()).collect();
            let d_exp: Vec<i64> = with_detail.iter().map(|d| d.1.expires_at).collect();
            let d_data: Vec<&[u8]> = with_detail.iter().map(|d| d.1.salted.as_slice()).collect();
            tx.execute(
                "INSERT INTO tlog_details (idx, tenant, subject, expires_at, data) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])",
                &[&d_idx, &d_tenant, &d_subject, &d_exp, &d_data],
            )
            .map_err(pg)?;
        }
        tx.execute(
            "INSERT INTO tlog_state (id, size, root) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root",
            &[&idx(seq.size)?, &&seq.root.0[..]],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(seq)
    }

    fn tree(&self) -> Result<(u64, Hash), LogError> {
        let row = self
            .conn()?
            .query_opt("SELECT size, root FROM tlog_state WHERE id = 1", &[])
            .map_err(pg)?;
        match row {
            None => Ok((0, parcel_tlog::tree::empty_root())),
            Some(r) => Ok((
                r.get::<_, i64>(0) as u64,
                to_hash(r.get::<_, &[u8]>(1), "tlog_state")?,
            )),
        }
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let rows = self
            .conn()?
            .query(
                "SELECT idx, data FROM tlog_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&idx(start)?, &idx(end)?],
            )
            .map_err(pg)?;
        collect_entries(
            rows.into_iter().map(|r| Ok((r.get(0), r.get(1)))),
            start,
            end,
        )
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT data FROM tlog_tiles WHERE level = $1 AND idx = $2",
                &[&i32::from(level), &idx(index)?],
            )
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, LogError> {
        let row = self
            .conn()?
            .query_opt("SELECT size, note FROM tlog_checkpoint WHERE id = 1", &[])
            .map_err(pg)?;
        Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    fn put_checkpoint(&self, size: u64, signed: &[u8]) -> Result<(), LogError> {
        self.conn()?
            .execute(
                "INSERT INTO tlog_checkpoint (id, size, note) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note \
                 WHERE excluded.size >= tlog_checkpoint.size",
                &[&idx(size)?, &signed],
            )
            .map_err(pg)?;
        Ok(())
    }

    fn detail(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT data FROM tlog_details WHERE idx = $1",
                &[&idx(index)?],
            )
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn expire_details(&self, now: i64) -> Result<u64, LogError> {
        self.conn()?
            .execute("DELETE FROM tlog_details WHERE expires_at < $1", &[&now])
            .map_err(pg)
    }

    fn erase_details(&self, tenant: &str, subject: &str, below: u64) -> Result<u64, LogError> {
        self.conn()?
            .execute(
                "DELETE FROM tlog_details WHERE tenant = $1 AND subject = $2 AND idx < $3",
                &[&tenant, &subject, &idx(below)?],
            )
            .map_err(pg)
    }
}
