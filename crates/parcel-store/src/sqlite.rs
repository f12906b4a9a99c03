//! The embedded backend: one SQLite file in WAL mode with
//! `synchronous = FULL` (a commit that returned survives power loss) and
//! `secure_delete` (erased ciphertexts are overwritten, not just unlinked).

use std::path::Path;

use parcel_numbers::Binding;
use parcel_vault::model::{Party, ShipmentRecord, Status};
use parcel_vault::store::{
    AlertRecord, AlertUpdate, ApiKeyRecord, AuditEvent, BindOutcome, BindReads, BindingSink,
    BreakGlass, CiphertextRead, Deferred, InsertOutcome, Principal, PrincipalPhone, QuotaOverride,
    QuotaWindow, Resolver, RevealReads, SealedShipment, Store, StoreError, StoreTx, StoredUpdate,
    Ticket, WrappedKey,
};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{OptionalExtension as _, params};

use crate::schema::{self, RECORD_COLUMNS, SLOT_COLUMNS, access, numbers, risk};
use crate::{SLOT_MARKER, parse_hash, parse_masked, parse_party, parse_status};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("sqlite: {e}"))
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
    /// Binding writes and quota counts, to the writer's thread (which
    /// stops when the last clone of this store is dropped).
    writes: std::sync::mpsc::Sender<Pending>,
    _checkpoints: crate::checkpointer::Checkpointer,
}

/// A write for the writer's thread and where its result goes once
/// committed.
struct Pending {
    op: WriteOp,
    reply: Reply,
}

/// Where a write's outcome goes: the caller awaiting (or waiting for) it.
enum Reply {
    Bind(Resolver<BindOutcome>),
    End(Resolver<bool>),
    Quota(Resolver<Result<i64, usize>>),
}

impl Reply {
    fn send(self, outcome: Result<WriteOut, StoreError>) {
        let mismatch = || err("writer: mismatched reply");
        match self {
            Self::Bind(r) => r.resolve(outcome.and_then(|o| match o {
                WriteOut::Bind(b) => Ok(b),
                WriteOut::End(_) | WriteOut::Quota(_) => Err(mismatch()),
            })),
            Self::End(r) => r.resolve(outcome.and_then(|o| match o {
                WriteOut::End(e) => Ok(e),
                WriteOut::Bind(_) | WriteOut::Quota(_) => Err(mismatch()),
            })),
            Self::Quota(r) => r.resolve(outcome.and_then(|o| match o {
                WriteOut::Quota(taken) => Ok(taken),
                WriteOut::Bind(_) | WriteOut::End(_) => Err(mismatch()),
            })),
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

enum WriteOp {
    Bind(Box<Binding>, i64),
    Quota {
        tenant: String,
        principal: String,
        windows: Vec<QuotaWindow>,
        want: i64,
    },
    End {
        tenant: String,
        id: String,
        at: i64,
        reason: String,
    },
}

enum WriteOut {
    Bind(BindOutcome),
    End(bool),
    /// Reveals taken from every window, or the first full window
    /// (nothing was counted then).
    Quota(Result<i64, usize>),
}

/// Prepared statements kept per connection: every statement of the store
/// fits, so the hot paths never parse SQL twice.
const STATEMENT_CACHE: usize = 128;

/// Per-connection settings; `busy_timeout` first so that the others wait
/// rather than fail while another connection holds a lock.
const PRAGMAS: &str = "PRAGMA busy_timeout = 10000;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
PRAGMA secure_delete = ON;
PRAGMA cache_size = -65536;";

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // WAL is a property of the file: set it once, before the pool opens
        // several connections at the same time.
        let first = rusqlite::Connection::open(path)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        first
            .execute_batch("PRAGMA busy_timeout = 10000;")
            .and_then(|()| first.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())))
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        drop(first);
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(PRAGMAS)
        });
        // A file connection does not go stale: skip r2d2's per-checkout probe
        // query, which costs as much as the reads it guards. Sixteen
        // connections: with eight, hundreds of concurrent binds queued for a
        // connection longer than they spent reading (bench-numbers).
        let pool = Pool::builder()
            .max_size(16)
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        let (writes, queue) = std::sync::mpsc::channel();
        let writer_path = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || writer(&writer_path, &queue))
            .map_err(|e| StoreError(format!("writer thread: {e}")))?;
        let checkpoints = crate::checkpointer::spawn(path, "sqlite-checkpoint")
            .map_err(|e| StoreError(format!("checkpoint thread: {e}")))?;
        let store = Self {
            pool,
            writes,
            _checkpoints: checkpoints,
        };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        self.pool.get().map_err(err)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .map_err(err)?;
        for &(version, description, sql) in schema::MIGRATIONS {
            let done: Option<i64> = cached_query_row(
                &tx,
                "SELECT version FROM schema_migrations WHERE version = ?",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
            if done.is_none() {
                tx.execute_batch(&schema::render(sql, false)).map_err(|e| {
                    StoreError(format!("sqlite: migration {version} ({description}): {e}"))
                })?;
                cached_execute(&tx,
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, strftime('%s','now'))",
                    params![version, description],
                )
                .map_err(err)?;
                tracing::info!(version, description, "applied migration");
            }
        }
        tx.commit().map_err(err)
    }

    /// Copies the write-ahead log into the main file and truncates it, so
    /// that pages holding erased ciphertexts do not linger in the log.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(err)
    }
}

fn record_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<ShipmentRecord> {
    let status: String = row.get(3)?;
    let masked: String = row.get(17)?;
    let conv = |e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    };
    let window = match (row.get::<_, Option<i64>>(7)?, row.get::<_, Option<i64>>(8)?) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Ok(ShipmentRecord {
        tenant: row.get(0)?,
        waybill_no: row.get(1)?,
        carrier: row.get(2)?,
        status: parse_status(&status).map_err(conv)?,
        origin_station: row.get(4)?,
        destination_station: row.get(5)?,
        courier: row.get(6)?,
        window,
        period: row.get(9)?,
        status_times: [
            row.get(10)?,
            row.get(11)?,
            row.get(12)?,
            row.get(13)?,
            row.get(14)?,
            row.get(15)?,
        ],
        updated_at: row.get(16)?,
        masked: parse_masked(&masked).map_err(conv)?,
        purged_at: row.get(18)?,
    })
}

struct SqliteTx {
    conn: PooledConnection<SqliteConnectionManager>,
    open: bool,
}

impl StoreTx for SqliteTx {
    fn insert(&mut self, rows: &[SealedShipment]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut ship = self
            .conn
            .prepare_cached(
                "INSERT INTO shipments (tenant, waybill_no, carrier, status, origin_station, destination_station, courier, \
                 window_start, window_end, period, created_at, updated_at, masked, sender_name, sender_phone, sender_address, \
                 sender_id_number, recipient_name, recipient_phone, recipient_address) \
                 VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .map_err(err)?;
        let mut blind = self
            .conn
            .prepare_cached("INSERT INTO blind_index (tenant, hash, waybill_no, party) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let masked = serde_json::to_string(&s.masked).map_err(err)?;
            let c = &s.ciphertexts;
            let n = ship
                .execute(params![
                    s.tenant,
                    s.waybill_no,
                    s.carrier,
                    s.origin_station,
                    s.destination_station,
                    s.courier,
                    s.window.map(|w| w.0),
                    s.window.map(|w| w.1),
                    s.period,
                    s.created_at,
                    s.created_at,
                    masked,
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4],
                    c[5],
                    c[6],
                ])
                .map_err(err)?;
            if n == 0 {
                out.push(InsertOutcome::Duplicate);
                continue;
            }
            for b in &s.blind {
                blind
                    .execute(params![
                        s.tenant,
                        b.hash.as_slice(),
                        s.waybill_no,
                        b.party.as_str()
                    ])
                    .map_err(err)?;
            }
            out.push(InsertOutcome::Inserted);
        }
        Ok(out)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(err)?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            // Best effort: a failed rollback leaves the connection to SQLite,
            // which rolls back when the connection closes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn begin(&self) -> Result<Box<dyn StoreTx + '_>, StoreError> {
        let conn = self.conn()?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        Ok(Box::new(SqliteTx { conn, open: true }))
    }

    fn get_shipment(
        &self,
        tenant: &str,
        waybill: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError> {
        shipment_on(&*self.conn()?, tenant, waybill)
    }

    fn get_ciphertext(
        &self,
        tenant: &str,
        waybill: &str,
        slot: usize,
    ) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
        ciphertext_on(&*self.conn()?, tenant, waybill, slot)
    }

    fn reveal_reads(
        &self,
        tenant: &str,
        principal: &str,
        waybill: &str,
        slot: usize,
        now: i64,
    ) -> Result<RevealReads, StoreError> {
        // One connection and one read transaction: one snapshot, and one
        // check of the WAL (and, after a write, one refill of the page
        // cache) instead of five.
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        let reads = RevealReads {
            principal: principal_on(&tx, tenant, principal)?,
            shipment: shipment_on(&tx, tenant, waybill)?,
            ciphertext: ciphertext_on(&tx, tenant, waybill, slot)?,
            approval_hold: hold_on(&tx, tenant, principal, now)?,
            quota_override: override_on(&tx, tenant, principal, now)?,
        };
        tx.commit().map_err(err)?;
        Ok(reads)
    }

    fn bind_reads(
        &self,
        tenant: &str,
        waybill: &str,
        slot: usize,
    ) -> Result<BindReads, StoreError> {
        // One pooled connection and one snapshot instead of four: with
        // hundreds of concurrent binds, each checkout contends for the
        // pool's lock and each read transaction for the WAL's.
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        let reads = match shipment_on(&tx, tenant, waybill)? {
            None => BindReads::default(),
            Some(shipment) => BindReads {
                live: live_binding_on(&tx, tenant, waybill)?,
                ciphertext: ciphertext_on(&tx, tenant, waybill, slot)?,
                courier_phone: match &shipment.courier {
                    Some(courier) => principal_phone_on(&tx, tenant, courier)?,
                    None => None,
                },
                shipment: Some(shipment),
            },
        };
        tx.commit().map_err(err)?;
        Ok(reads)
    }

    fn update_shipment(
        &self,
        tenant: &str,
        waybill: &str,
        expected: Status,
        update: &StoredUpdate,
    ) -> Result<bool, StoreError> {
        let (sql, status) = crate::update_sql(update, false);
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let n = stmt
            .execute(params![
                update.at,
                status,
                update.courier,
                update.window.map(|w| w.0),
                update.window.map(|w| w.1),
                tenant,
                waybill,
                expected.as_str(),
            ])
            .map_err(err)?;
        Ok(n == 1)
    }

    fn find_blind(
        &self,
        tenant: &str,
        hash: &[u8; 16],
    ) -> Result<Vec<(String, Party)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT waybill_no, party FROM blind_index WHERE tenant = ? AND hash = ?",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![tenant, hash.as_slice()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (w, p) = row.map_err(err)?;
            out.push((w, parse_party(&p)?));
        }
        Ok(out)
    }

    fn get_data_key(&self, tenant: &str, period: &str) -> Result<Option<WrappedKey>, StoreError> {
        let conn = self.conn()?;
        cached_query_row(&conn,
            "SELECT tenant, period, kek_version, wrapped, created_at FROM data_keys WHERE tenant = ? AND period = ?",
            params![tenant, period],
            wrapped_from,
        )
        .optional()
        .map_err(err)
    }

    fn put_data_key_if_absent(&self, key: &WrappedKey) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(&conn,
            "INSERT INTO data_keys (tenant, period, kek_version, wrapped, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            params![key.tenant, key.period, key.kek_version, key.wrapped, key.created_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn data_keys(&self) -> Result<Vec<WrappedKey>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT tenant, period, kek_version, wrapped, created_at FROM data_keys ORDER BY tenant, period")
            .map_err(err)?;
        let rows = stmt.query_map([], wrapped_from).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn rewrap_data_key(&self, key: &WrappedKey, old_version: u32) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let n = cached_execute(&conn,
                "UPDATE data_keys SET kek_version = ?, wrapped = ? WHERE tenant = ? AND period = ? AND kek_version = ? AND wrapped IS NOT NULL",
                params![key.kek_version, key.wrapped, key.tenant, key.period, old_version],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn destroy_data_key(&self, tenant: &str, period: &str) -> Result<(), StoreError> {
        {
            let conn = self.conn()?;
            cached_execute(&conn,
                "UPDATE data_keys SET wrapped = NULL, destroyed_at = strftime('%s','now') WHERE tenant = ? AND period = ?",
                params![tenant, period],
            )
            .map_err(err)?;
        }
        self.checkpoint()
    }

    fn erase_party(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        masked: &parcel_vault::model::MaskedView,
    ) -> Result<(), StoreError> {
        {
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let sets: Vec<String> = schema::party_columns(party)
                .iter()
                .map(|c| format!("{c} = NULL"))
                .collect();
            let masked = serde_json::to_string(masked).map_err(err)?;
            cached_execute(
                &tx,
                &format!(
                    "UPDATE shipments SET {}, masked = ? WHERE tenant = ? AND waybill_no = ?",
                    sets.join(", ")
                ),
                params![masked, tenant, waybill],
            )
            .map_err(err)?;
            cached_execute(
                &tx,
                "DELETE FROM blind_index WHERE tenant = ? AND waybill_no = ? AND party = ?",
                params![tenant, waybill, party.as_str()],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        self.checkpoint()
    }

    fn expired(&self, cutoff: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT tenant, waybill_no FROM shipments WHERE terminal_at IS NOT NULL AND purged_at IS NULL AND terminal_at < ? LIMIT ?",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![cutoff, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn purge(&self, tenant: &str, waybill: &str, at: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let sets: Vec<String> = SLOT_COLUMNS.iter().map(|c| format!("{c} = NULL")).collect();
        cached_execute(
            &tx,
            &format!(
                "UPDATE shipments SET {}, purged_at = ? WHERE tenant = ? AND waybill_no = ?",
                sets.join(", ")
            ),
            params![at, tenant, waybill],
        )
        .map_err(err)?;
        cached_execute(
            &tx,
            "DELETE FROM blind_index WHERE tenant = ? AND waybill_no = ?",
            params![tenant, waybill],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn shreddable_periods(&self, before: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(crate::SHREDDABLE_SQL).map_err(err)?;
        let rows = stmt
            .query_map(params![before], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            "INSERT INTO audit_events (at, tenant, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            params![e.at, e.tenant, e.actor, e.action, e.detail],
        )
        .map_err(err)?;
        Ok(())
    }

    fn audit_events(&self, tenant: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT at, tenant, actor, action, detail FROM audit_events WHERE tenant = ? ORDER BY id")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![tenant], |r| {
                Ok(AuditEvent {
                    at: r.get(0)?,
                    tenant: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn count_shipments(&self, tenant: &str) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let n: i64 = cached_query_row(
            &conn,
            "SELECT count(*) FROM shipments WHERE tenant = ?",
            params![tenant],
            |r| r.get(0),
        )
        .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn list_shipments(
        &self,
        tenant: &str,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ShipmentRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM shipments WHERE tenant = ?1 \
                 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR waybill_no > ?3) \
                 ORDER BY waybill_no LIMIT ?4"
            ))
            .map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(
                params![tenant, status.map(Status::as_str), after, limit],
                record_from,
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn shipment_counts(&self, tenant: &str) -> Result<Vec<(Status, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT status, count(*) FROM shipments WHERE tenant = ? GROUP BY status ORDER BY status",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![tenant], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (s, n) = row.map_err(err)?;
            out.push((parse_status(&s)?, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    fn put_tenant(&self, id: &str, name: &str, at: i64) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            params![id, name, at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn put_principal(&self, p: &Principal) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(&conn,
            "INSERT INTO principals (tenant, id, role, station, status, created_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (tenant, id) DO UPDATE SET role = excluded.role, station = excluded.station, status = excluded.status",
            params![p.tenant, p.id, p.role, p.station, p.status, p.created_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(&conn,
            "INSERT INTO api_keys (id, tenant, principal, hash, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![k.id, k.tenant, k.principal, k.hash, k.created_at, k.expires_at, k.revoked_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn find_api_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, Principal)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT k.id, k.tenant, k.principal, k.hash, k.created_at, k.expires_at, k.revoked_at, \
                 p.role, p.station, p.status, p.created_at \
                 FROM api_keys k JOIN principals p ON p.tenant = k.tenant AND p.id = k.principal WHERE k.hash = ?",
            )
            .map_err(err)?;
        stmt.query_row(params![hash], |r| {
            let key = ApiKeyRecord {
                id: r.get(0)?,
                tenant: r.get(1)?,
                principal: r.get(2)?,
                hash: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                revoked_at: r.get(6)?,
            };
            let principal = Principal {
                tenant: key.tenant.clone(),
                id: key.principal.clone(),
                role: r.get(7)?,
                station: r.get(8)?,
                status: r.get(9)?,
                created_at: r.get(10)?,
            };
            Ok((key, principal))
        })
        .optional()
        .map_err(err)
    }

    fn get_principal(&self, tenant: &str, id: &str) -> Result<Option<Principal>, StoreError> {
        principal_on(&*self.conn()?, tenant, id)
    }

    fn list_principals(&self, tenant: &str) -> Result<Vec<Principal>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "{} WHERE tenant = ? ORDER BY id",
                access::PRINCIPAL
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map(params![tenant], principal_from)
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn list_api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "{} WHERE tenant = ? ORDER BY created_at, id",
                access::API_KEY
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map(params![tenant], |r| {
                Ok(ApiKeyRecord {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    principal: r.get(2)?,
                    hash: r.get(3)?,
                    created_at: r.get(4)?,
                    expires_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn revoke_api_key(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let n = cached_execute(&conn, access::REVOKE_KEY, params![at, tenant, id]).map_err(err)?;
        Ok(n == 1)
    }

    fn take_quota(
        &self,
        tenant: &str,
        principal: &str,
        windows: &[QuotaWindow],
    ) -> Result<Option<usize>, StoreError> {
        Ok(self
            .take_quota_lease(tenant, principal, windows, 1)
            .wait()?
            .err())
    }

    fn take_quota_lease(
        &self,
        tenant: &str,
        principal: &str,
        windows: &[QuotaWindow],
        want: i64,
    ) -> Deferred<Result<i64, usize>> {
        if let Some(i) = windows.iter().position(|w| w.limit <= 0) {
            return Deferred::ready(Ok(Err(i)));
        }
        // Through the writer: every count queued meanwhile shares one
        // commit, and the other connections drop their page caches once
        // per batch rather than once per reveal.
        let op = WriteOp::Quota {
            tenant: tenant.to_owned(),
            principal: principal.to_owned(),
            windows: windows.to_vec(),
            want: want.max(1),
        };
        self.queue(op, Reply::Quota)
    }

    fn reads_inline(&self) -> bool {
        true
    }

    fn prune_quota(&self, before: i64) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let n = cached_execute(&conn, access::PRUNE_QUOTA, params![before]).map_err(err)?;
        Ok(n as u64)
    }

    fn put_ticket(&self, t: &Ticket) -> Result<InsertOutcome, StoreError> {
        let conn = self.conn()?;
        let n = cached_execute(
            &conn,
            access::PUT_TICKET,
            params![
                t.tenant,
                t.id,
                t.waybill_no,
                t.opened_by,
                t.opened_at,
                t.closed_at
            ],
        )
        .map_err(err)?;
        Ok(if n == 1 {
            InsertOutcome::Inserted
        } else {
            InsertOutcome::Duplicate
        })
    }

    fn get_ticket(&self, tenant: &str, id: &str) -> Result<Option<Ticket>, StoreError> {
        let conn = self.conn()?;
        cached_query_row(&conn, access::TICKET, params![tenant, id], |r| {
            Ok(Ticket {
                tenant: r.get(0)?,
                id: r.get(1)?,
                waybill_no: r.get(2)?,
                opened_by: r.get(3)?,
                opened_at: r.get(4)?,
                closed_at: r.get(5)?,
            })
        })
        .optional()
        .map_err(err)
    }

    fn put_break_glass(&self, b: &BreakGlass) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            access::PUT_BREAK_GLASS,
            params![
                b.tenant,
                b.id,
                b.requester,
                b.waybill_no,
                b.party,
                b.field,
                b.justification,
                b.created_at
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn get_break_glass(&self, tenant: &str, id: &str) -> Result<Option<BreakGlass>, StoreError> {
        let conn = self.conn()?;
        cached_query_row(&conn, access::BREAK_GLASS, params![tenant, id], |r| {
            Ok(BreakGlass {
                tenant: r.get(0)?,
                id: r.get(1)?,
                requester: r.get(2)?,
                waybill_no: r.get(3)?,
                party: r.get(4)?,
                field: r.get(5)?,
                justification: r.get(6)?,
                created_at: r.get(7)?,
                approved_by: r.get(8)?,
                approved_at: r.get(9)?,
                used_at: r.get(10)?,
            })
        })
        .optional()
        .map_err(err)
    }

    fn approve_break_glass(
        &self,
        tenant: &str,
        id: &str,
        approver: &str,
        at: i64,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let n = cached_execute(
            &conn,
            access::APPROVE_BREAK_GLASS,
            params![approver, at, tenant, id, approver, not_before],
        )
        .map_err(err)?;
        Ok(n == 1)
    }

    fn use_break_glass(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let n =
            cached_execute(&conn, access::USE_BREAK_GLASS, params![at, tenant, id]).map_err(err)?;
        Ok(n == 1)
    }

    fn put_alert(&self, a: &AlertRecord) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            risk::PUT_ALERT,
            params![
                a.tenant,
                a.id,
                a.actor,
                a.raised_at_ms,
                a.severity,
                a.score_milli,
                a.body,
                a.status,
                a.verdict,
                a.analyst,
                a.note,
                a.updated_at
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn get_alert(&self, tenant: &str, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let conn = self.conn()?;
        let sql = format!("{} WHERE tenant = ? AND id = ?", risk::ALERT);
        cached_query_row(&conn, &sql, params![tenant, id], alert_from)
            .optional()
            .map_err(err)
    }

    fn list_alerts(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let order = "ORDER BY raised_at_ms DESC, id LIMIT ?";
        let rows = match status {
            Some(st) => {
                let sql = format!("{} WHERE tenant = ? AND status = ? {order}", risk::ALERT);
                let mut q = conn.prepare_cached(&sql).map_err(err)?;
                q.query_map(params![tenant, st, limit], alert_from)
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
            }
            None => {
                let sql = format!("{} WHERE tenant = ? {order}", risk::ALERT);
                let mut q = conn.prepare_cached(&sql).map_err(err)?;
                q.query_map(params![tenant, limit], alert_from)
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
            }
        };
        rows.map_err(err)
    }

    fn update_alert(
        &self,
        tenant: &str,
        id: &str,
        u: &AlertUpdate<'_>,
    ) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        for from in u.from {
            let n = cached_execute(
                &conn,
                risk::UPDATE_ALERT,
                params![
                    u.status, u.verdict, u.analyst, u.note, u.at, tenant, id, from
                ],
            )
            .map_err(err)?;
            if n == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn put_suppression(
        &self,
        tenant: &str,
        actor: &str,
        signal: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            risk::PUT_SUPPRESSION,
            params![tenant, actor, signal, until],
        )
        .map_err(err)?;
        Ok(())
    }

    fn suppressions(
        &self,
        tenant: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare_cached(risk::SUPPRESSIONS).map_err(err)?;
        q.query_map(params![tenant, now_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)
    }

    fn put_quota_override(&self, o: &QuotaOverride) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            risk::PUT_QUOTA_OVERRIDE,
            params![
                o.tenant,
                o.principal,
                o.per_hour,
                o.per_day,
                o.until,
                o.reason
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn quota_override(
        &self,
        tenant: &str,
        principal: &str,
        now: i64,
    ) -> Result<Option<QuotaOverride>, StoreError> {
        override_on(&*self.conn()?, tenant, principal, now)
    }

    fn put_approval_hold(
        &self,
        tenant: &str,
        principal: &str,
        until: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            risk::PUT_APPROVAL_HOLD,
            params![tenant, principal, until, reason],
        )
        .map_err(err)?;
        Ok(())
    }

    fn approval_hold(
        &self,
        tenant: &str,
        principal: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        hold_on(&*self.conn()?, tenant, principal, now)
    }

    fn lift_restrictions(
        &self,
        tenant: &str,
        principal: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        let mut n = 0;
        for sql in [risk::LIFT_OVERRIDE, risk::LIFT_HOLD] {
            n += cached_execute(&tx, sql, params![tenant, principal, reason]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(n as u64)
    }

    fn put_pool_numbers(
        &self,
        tenant: &str,
        city: &str,
        numbers: &[String],
        at: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx.prepare_cached(numbers::PUT_POOL).map_err(err)?;
            for n in numbers {
                added += stmt.execute(params![tenant, n, city, at]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    fn pool_numbers(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare_cached(numbers::POOL).map_err(err)?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn bind_number(&self, b: &Binding, now: i64) -> Result<BindOutcome, StoreError> {
        self.bind_number_deferred(b, now).wait()
    }

    fn bind_number_deferred(&self, b: &Binding, now: i64) -> Deferred<BindOutcome> {
        self.queue(WriteOp::Bind(Box::new(b.clone()), now), Reply::Bind)
    }

    fn end_binding(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.end_binding_deferred(tenant, id, at, reason).wait()
    }

    fn end_binding_deferred(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Deferred<bool> {
        let op = WriteOp::End {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            at,
            reason: reason.to_owned(),
        };
        self.queue(op, Reply::End)
    }

    fn live_binding(&self, tenant: &str, waybill: &str) -> Result<Option<Binding>, StoreError> {
        live_binding_on(&*self.conn()?, tenant, waybill)
    }

    fn get_binding(&self, tenant: &str, id: &str) -> Result<Option<Binding>, StoreError> {
        let conn = self.conn()?;
        cached_query_row(
            &conn,
            &format!(
                "{} WHERE tenant = ? AND id = ? AND ended_at IS NULL",
                numbers::BINDING
            ),
            params![tenant, id],
            binding_from,
        )
        .optional()
        .map_err(err)
    }

    fn binding_by_slot(
        &self,
        tenant: &str,
        number: &str,
        ext: u16,
        phone_hash: &[u8],
    ) -> Result<Option<Binding>, StoreError> {
        let conn = self.conn()?;
        let id: Option<String> = cached_query_row(
            &conn,
            numbers::SLOT_OWNER,
            params![tenant, number, i64::from(ext), phone_hash],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
        drop(conn);
        match id {
            Some(id) => self.get_binding(tenant, &id),
            None => Ok(None),
        }
    }

    fn live_bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn
            .prepare(&format!("{} WHERE ended_at IS NULL", numbers::BINDING))
            .map_err(err)?;
        let rows = q.query_map([], binding_from).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn expired_bindings(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare_cached(numbers::EXPIRED).map_err(err)?;
        let rows = q
            .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn watch_bindings(&self, _sink: BindingSink) -> Result<bool, StoreError> {
        // One SQLite file serves one server process: its own changes are
        // all there is.
        Ok(false)
    }

    fn put_principal_phone(
        &self,
        tenant: &str,
        principal: &str,
        phone: &PrincipalPhone,
        at: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        cached_execute(
            &conn,
            numbers::PUT_PHONE,
            params![
                tenant,
                principal,
                phone.hash,
                phone.sealed,
                phone.period,
                at
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn principal_phone(
        &self,
        tenant: &str,
        principal: &str,
    ) -> Result<Option<PrincipalPhone>, StoreError> {
        principal_phone_on(&*self.conn()?, tenant, principal)
    }

    fn principal_by_phone(&self, tenant: &str, hash: &[u8]) -> Result<Option<String>, StoreError> {
        let conn = self.conn()?;
        cached_query_row(&conn, numbers::BY_PHONE, params![tenant, hash], |r| {
            r.get(0)
        })
        .optional()
        .map_err(err)
    }
}

impl SqliteStore {
    /// Queues one write for the writer's thread; the outcome arrives once
    /// its transaction has committed.
    fn queue<T>(&self, op: WriteOp, reply: fn(Resolver<T>) -> Reply) -> Deferred<T> {
        let (resolver, outcome) = Deferred::queued();
        match self.writes.send(Pending {
            op,
            reply: reply(resolver),
        }) {
            Ok(()) => outcome,
            Err(_) => Deferred::ready(Err(err("writer: stopped"))),
        }
    }
}

/// Most writes combined into one transaction.
const WRITE_BATCH: usize = 4096;

/// The writer of bindings and reveal-quota counts: every write queued
/// while the previous transaction ran goes into the next one (each in its
/// own savepoint, so a refused one changes nothing), which commits once
/// before each caller gets its result. Commits do not wait for the disk
/// (`synchronous = NORMAL`: WAL keeps them consistent and a process crash
/// cannot lose one; the transparency-log entry of each bind, unbind and
/// reveal is durable on its own). One thread rather than callers taking
/// turns: a caller whose write was committed by someone else's turn would
/// still queue for the turn.
fn writer(path: &std::path::Path, queue: &std::sync::mpsc::Receiver<Pending>) {
    let mut conn: Option<rusqlite::Connection> = None;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        run_batch(path, &mut conn, batch);
    }
}

fn run_batch(path: &std::path::Path, conn: &mut Option<rusqlite::Connection>, batch: Vec<Pending>) {
    let mut results = Vec::with_capacity(batch.len());
    let outcome = (|| -> Result<(), StoreError> {
        if conn.is_none() {
            let c = rusqlite::Connection::open(path).map_err(err)?;
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(PRAGMAS).map_err(err)?;
            // Checkpoints (which copy the WAL back and fsync) run in the
            // background (`checkpointer`), not in this writer's commits.
            c.execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {}",
                crate::checkpointer::BACKSTOP_PAGES
            ))
            .map_err(err)?;
            *conn = Some(c);
        }
        let Some(conn) = conn.as_mut() else {
            return Err(err("writer: no connection"));
        };
        let mut tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        for p in &batch {
            let sp = tx.savepoint().map_err(err)?;
            let r = match &p.op {
                WriteOp::Bind(b, now) => {
                    bind_in(&sp, b, *now).map(|(keep, o)| (keep, WriteOut::Bind(o)))
                }
                WriteOp::Quota {
                    tenant,
                    principal,
                    windows,
                    want,
                } => quota_in(&sp, tenant, principal, windows, *want)
                    .map(|taken| (taken.is_ok(), WriteOut::Quota(taken))),
                WriteOp::End {
                    tenant,
                    id,
                    at,
                    reason,
                } => end_in(&sp, tenant, id, *at, reason).map(|e| (e, WriteOut::End(e))),
            };
            match r {
                Ok((true, out)) => {
                    sp.commit().map_err(err)?;
                    results.push(Ok(out));
                }
                // Dropping the savepoint rolls this write back.
                Ok((false, out)) => results.push(Ok(out)),
                Err(e) => results.push(Err(e)),
            }
        }
        tx.commit().map_err(err)
    })();
    if outcome.is_err() {
        // Start over with a fresh connection next time.
        *conn = None;
    }
    match outcome {
        Ok(()) => {
            for (p, r) in batch.into_iter().zip(results) {
                p.reply.send(r);
            }
        }
        Err(e) => {
            for p in batch {
                p.reply.send(Err(StoreError(e.0.clone())));
            }
        }
    }
}

/// Stores a binding and takes its slots; `(commit, outcome)`.
fn bind_in(
    tx: &rusqlite::Connection,
    b: &Binding,
    now: i64,
) -> Result<(bool, BindOutcome), StoreError> {
    let ext = i64::from(b.ext);
    let in_the_way: Vec<String> = {
        let mut q = tx
            .prepare_cached(numbers::EXPIRED_IN_THE_WAY)
            .map_err(err)?;
        let rows = q
            .query_map(
                params![
                    b.tenant,
                    b.waybill_no,
                    now,
                    b.tenant,
                    b.number,
                    ext,
                    &b.a_hash[..],
                    &b.b_hash[..],
                    &SLOT_MARKER[..],
                    now
                ],
                |r| r.get(0),
            )
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)?
    };
    for id in &in_the_way {
        end_in(tx, &b.tenant, id, now, "expired")?;
    }
    let n = tx
        .prepare_cached(numbers::PUT_BINDING)
        .and_then(|mut q| {
            q.execute(params![
                b.tenant,
                b.id,
                b.waybill_no,
                b.courier,
                b.city,
                b.number,
                ext,
                &b.a_hash[..],
                &b.b_hash[..],
                b.a_sealed,
                b.b_sealed,
                b.period,
                b.created_at,
                b.window_end,
                b.expires_at
            ])
        })
        .map_err(err)?;
    if n == 0 {
        let live: Option<String> = cached_query_row(
            tx,
            numbers::LIVE_FOR_WAYBILL,
            params![b.tenant, b.waybill_no],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
        return Ok((
            false,
            live.map_or(BindOutcome::SlotTaken, BindOutcome::AlreadyBound),
        ));
    }
    let mut slot = tx.prepare_cached(numbers::PUT_SLOT).map_err(err)?;
    for hash in crate::slot_hashes(b) {
        if slot
            .execute(params![b.tenant, b.number, ext, hash, b.id])
            .map_err(err)?
            == 0
        {
            return Ok((false, BindOutcome::SlotTaken));
        }
    }
    Ok((true, BindOutcome::Bound(in_the_way)))
}

fn end_in(
    tx: &rusqlite::Connection,
    tenant: &str,
    id: &str,
    at: i64,
    reason: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(numbers::END)
        .and_then(|mut q| q.execute(params![at, reason, tenant, id]))
        .map_err(err)?;
    if n > 0 {
        tx.prepare_cached(numbers::FREE_SLOTS)
            .and_then(|mut q| q.execute(params![tenant, id]))
            .map_err(err)?;
    }
    Ok(n > 0)
}

fn binding_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Binding> {
    let conv = |e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    };
    let ext: i64 = r.get(6)?;
    Ok(Binding {
        tenant: r.get(0)?,
        id: r.get(1)?,
        waybill_no: r.get(2)?,
        courier: r.get(3)?,
        city: r.get(4)?,
        number: r.get(5)?,
        ext: u16::try_from(ext)
            .map_err(|_| conv(StoreError("number_bindings.ext: out of range".to_owned())))?,
        a_hash: parse_hash(&r.get::<_, Vec<u8>>(7)?).map_err(conv)?,
        b_hash: parse_hash(&r.get::<_, Vec<u8>>(8)?).map_err(conv)?,
        a_sealed: r.get(9)?,
        b_sealed: r.get(10)?,
        period: r.get(11)?,
        created_at: r.get(12)?,
        window_end: r.get(13)?,
        expires_at: r.get(14)?,
    })
}

fn alert_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        tenant: r.get(0)?,
        id: r.get(1)?,
        actor: r.get(2)?,
        raised_at_ms: r.get(3)?,
        severity: r.get(4)?,
        score_milli: r.get(5)?,
        body: r.get(6)?,
        status: r.get(7)?,
        verdict: r.get(8)?,
        analyst: r.get(9)?,
        note: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn principal_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Principal> {
    Ok(Principal {
        tenant: r.get(0)?,
        id: r.get(1)?,
        role: r.get(2)?,
        station: r.get(3)?,
        status: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Counts one reveal in every window, inside the writer's savepoint; the
/// first full window, if any (the caller then rolls the savepoint back, so
/// the windows already counted are not).
/// Takes `want` (or fewer) reveals from every window: the writer's
/// immediate transaction makes reading the room and adding to it one
/// atomic step, for other processes on the file too.
fn quota_in(
    tx: &rusqlite::Connection,
    tenant: &str,
    principal: &str,
    windows: &[QuotaWindow],
    want: i64,
) -> Result<Result<i64, usize>, StoreError> {
    let mut take = want.max(1);
    if take > 1 {
        for (i, w) in windows.iter().enumerate() {
            let counted: i64 = tx
                .prepare_cached(access::QUOTA_COUNT)
                .and_then(|mut stmt| {
                    stmt.query_row(params![tenant, principal, w.secs, w.start], |r| r.get(0))
                        .optional()
                })
                .map_err(err)?
                .unwrap_or(0);
            let room = w.limit - counted;
            if room <= 0 {
                return Ok(Err(i));
            }
            take = take.min((room / 4).max(1));
        }
    }
    for (i, w) in windows.iter().enumerate() {
        let counted: Option<i64> = tx
            .prepare_cached(access::TAKE_QUOTA_N)
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        tenant, principal, w.secs, w.start, take, take, take, w.limit
                    ],
                    |r| r.get(0),
                )
                .optional()
            })
            .map_err(err)?;
        if counted.is_none() {
            return Ok(Err(i));
        }
    }
    Ok(Ok(take))
}

fn shipment_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    waybill: &str,
) -> Result<Option<ShipmentRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM shipments WHERE tenant = ? AND waybill_no = ?"
        ))
        .map_err(err)?;
    stmt.query_row(params![tenant, waybill], record_from)
        .optional()
        .map_err(err)
}

fn ciphertext_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    waybill: &str,
    slot: usize,
) -> Result<Option<CiphertextRead>, StoreError> {
    let column = SLOT_COLUMNS
        .get(slot)
        .ok_or_else(|| StoreError(format!("no ciphertext slot {slot}")))?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT period, {column} FROM shipments WHERE tenant = ? AND waybill_no = ?"
        ))
        .map_err(err)?;
    stmt.query_row(params![tenant, waybill], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(err)
}

fn live_binding_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    waybill: &str,
) -> Result<Option<Binding>, StoreError> {
    cached_query_row(
        conn,
        numbers::LIVE_BINDING,
        params![tenant, waybill],
        binding_from,
    )
    .optional()
    .map_err(err)
}

fn principal_phone_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    principal: &str,
) -> Result<Option<PrincipalPhone>, StoreError> {
    cached_query_row(conn, numbers::PHONE, params![tenant, principal], |r| {
        Ok(PrincipalPhone {
            hash: r.get(0)?,
            sealed: r.get(1)?,
            period: r.get(2)?,
        })
    })
    .optional()
    .map_err(err)
}

fn principal_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    id: &str,
) -> Result<Option<Principal>, StoreError> {
    cached_query_row(
        conn,
        &format!("{} WHERE tenant = ? AND id = ?", access::PRINCIPAL),
        params![tenant, id],
        principal_from,
    )
    .optional()
    .map_err(err)
}

fn override_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    principal: &str,
    now: i64,
) -> Result<Option<QuotaOverride>, StoreError> {
    let mut q = conn.prepare_cached(risk::QUOTA_OVERRIDE).map_err(err)?;
    q.query_row(params![tenant, principal, now], |r| {
        Ok(QuotaOverride {
            tenant: r.get(0)?,
            principal: r.get(1)?,
            per_hour: r.get(2)?,
            per_day: r.get(3)?,
            until: r.get(4)?,
            reason: r.get(5)?,
        })
    })
    .optional()
    .map_err(err)
}

fn hold_on(
    conn: &rusqlite::Connection,
    tenant: &str,
    principal: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let mut q = conn.prepare_cached(risk::APPROVAL_HOLD).map_err(err)?;
    q.query_row(params![tenant, principal, now], |r| r.get(0))
        .optional()
        .map_err(err)
}

fn wrapped_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<WrappedKey> {
    Ok(WrappedKey {
        tenant: r.get(0)?,
        period: r.get(1)?,
        kek_version: r.get(2)?,
        wrapped: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// A one-row query through the connection's statement cache: parsing the
/// SQL costs more than most of these queries take to run.
fn cached_query_row<T, P: rusqlite::Params>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// A statement through the connection's statement cache.
fn cached_execute<P: rusqlite::Params>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}
