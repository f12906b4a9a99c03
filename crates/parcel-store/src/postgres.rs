//! The PostgreSQL backend, for several `parcelguard serve` processes sharing
//! one database (or a Postgres-compatible distributed one). Migrations run
//! under an advisory lock so that servers starting together apply them once;
//! batches are inserted with `unnest` arrays, one round trip per batch.

use std::collections::HashMap;

use parcel_numbers::Binding;
use parcel_vault::model::{MaskedView, Party, ShipmentRecord, Status};
use parcel_vault::store::{
    AlertRecord, AlertUpdate, ApiKeyRecord, AuditEvent, BindOutcome, BindingChange, BindingSink,
    BreakGlass, InsertOutcome, Principal, PrincipalPhone, QuotaOverride, QuotaWindow,
    SealedShipment, Store, StoreError, StoreTx, StoredUpdate, Ticket, WrappedKey,
};
use postgres::NoTls;
use postgres::fallible_iterator::FallibleIterator as _;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use crate::schema::{self, RECORD_COLUMNS, SLOT_COLUMNS, access, numbers, risk};
use crate::{SLOT_MARKER, number_params, parse_hash, parse_masked, parse_party, parse_status};

type Manager = PostgresConnectionManager<NoTls>;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("postgres: {e}"))
}

/// Arbitrary constant naming parcelguard's migration lock.
const MIGRATION_LOCK: i64 = 0x7061_7263_656c;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<Manager>,
    /// For the binding listener's own connection.
    config: postgres::Config,
    /// `LISTEN`/`NOTIFY` channel of binding changes (per schema, so test
    /// schemas on one database do not hear each other).
    channel: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl PgStore {
    /// Connects to `url` and applies migrations. With `schema`, every
    /// connection works in that schema (created if missing); tests use it to
    /// stay apart from each other.
    pub fn open(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let config = crate::pg_config(url, schema).map_err(StoreError)?;
        // Connections open as load needs them: several servers (and test
        // schemas) share the database's connection limit.
        let pool = Pool::builder()
            .max_size(16)
            .min_idle(Some(2))
            .build(PostgresConnectionManager::new(config.clone(), NoTls))
            .map_err(err)?;
        let channel = match schema {
            Some(s) => format!("parcelguard_numbers_{s}"),
            None => "parcelguard_numbers".to_owned(),
        };
        let store = Self {
            pool,
            config,
            channel,
        };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(err)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .map_err(err)?;
        for &(version, description, sql) in schema::MIGRATIONS {
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&version],
                )
                .map_err(err)?;
            if done.is_none() {
                tx.batch_execute(&schema::render(sql, true)).map_err(|e| {
                    StoreError(format!(
                        "postgres: migration {version} ({description}): {e}"
                    ))
                })?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, extract(epoch from now())::bigint)",
                    &[&version, &description],
                )
                .map_err(err)?;
                tracing::info!(version, description, "applied migration");
            }
        }
        tx.commit().map_err(err)
    }
}

fn record_from(row: &postgres::Row) -> Result<ShipmentRecord, StoreError> {
    let g = |e: postgres::Error| err(e);
    let window = match (
        row.try_get::<_, Option<i64>>(7).map_err(g)?,
        row.try_get::<_, Option<i64>>(8).map_err(g)?,
    ) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let mut status_times = [None; 6];
    for (i, t) in status_times.iter_mut().enumerate() {
        *t = row.try_get(10 + i).map_err(g)?;
    }
    Ok(ShipmentRecord {
        tenant: row.try_get(0).map_err(g)?,
        waybill_no: row.try_get(1).map_err(g)?,
        carrier: row.try_get(2).map_err(g)?,
        status: parse_status(row.try_get(3).map_err(g)?)?,
        origin_station: row.try_get(4).map_err(g)?,
        destination_station: row.try_get(5).map_err(g)?,
        courier: row.try_get(6).map_err(g)?,
        window,
        period: row.try_get(9).map_err(g)?,
        status_times,
        updated_at: row.try_get(16).map_err(g)?,
        masked: parse_masked(row.try_get(17).map_err(g)?)?,
        purged_at: row.try_get(18).map_err(g)?,
    })
}

fn wrapped_from(r: &postgres::Row) -> Result<WrappedKey, StoreError> {
    let version: i64 = r.try_get(2).map_err(err)?;
    Ok(WrappedKey {
        tenant: r.try_get(0).map_err(err)?,
        period: r.try_get(1).map_err(err)?,
        kek_version: u32::try_from(version)
            .map_err(|_| StoreError("data_keys.kek_version out of range".to_owned()))?,
        wrapped: r.try_get(3).map_err(err)?,
        created_at: r.try_get(4).map_err(err)?,
    })
}

struct PgTx {
    conn: PooledConnection<Manager>,
    open: bool,
}

const INSERT_SHIPMENTS: &str = "INSERT INTO shipments (tenant, waybill_no, carrier, status, origin_station, \
    destination_station, courier, window_start, window_end, period, created_at, updated_at, masked, sender_name, \
    sender_phone, sender_address, sender_id_number, recipient_name, recipient_phone, recipient_address) \
    SELECT t, w, c, 'created', o, d, cr, ws, we, p, ca, ca, m, s0, s1, s2, s3, s4, s5, s6 FROM unnest(\
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[], \
    $10::int8[], $11::text[], $12::bytea[], $13::bytea[], $14::bytea[], $15::bytea[], $16::bytea[], $17::bytea[], \
    $18::bytea[]) AS u(t, w, c, o, d, cr, ws, we, p, ca, m, s0, s1, s2, s3, s4, s5, s6) \
    ON CONFLICT DO NOTHING RETURNING waybill_no";

impl StoreTx for PgTx {
    fn insert(&mut self, rows: &[SealedShipment]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(2000) {
            let col = |f: &dyn Fn(&SealedShipment) -> String| {
                chunk.iter().map(f).collect::<Vec<String>>()
            };
            let opt = |f: &dyn Fn(&SealedShipment) -> Option<String>| {
                chunk.iter().map(f).collect::<Vec<Option<String>>>()
            };
            let tenants = col(&|s| s.tenant.clone());
            let waybills = col(&|s| s.waybill_no.clone());
            let carriers = col(&|s| s.carrier.clone());
            let origins = opt(&|s| s.origin_station.clone());
            let dests = opt(&|s| s.destination_station.clone());
            let couriers = opt(&|s| s.courier.clone());
            let ws: Vec<Option<i64>> = chunk.iter().map(|s| s.window.map(|w| w.0)).collect();
            let we: Vec<Option<i64>> = chunk.iter().map(|s| s.window.map(|w| w.1)).collect();
            let periods = col(&|s| s.period.clone());
            let created: Vec<i64> = chunk.iter().map(|s| s.created_at).collect();
            let masked = chunk
                .iter()
                .map(|s| serde_json::to_string(&s.masked).map_err(err))
                .collect::<Result<Vec<_>, _>>()?;
            let slots: Vec<Vec<Option<&[u8]>>> = (0..7)
                .map(|i| chunk.iter().map(|s| s.ciphertexts[i].as_deref()).collect())
                .collect();
            let inserted = self
                .conn
                .query(
                    INSERT_SHIPMENTS,
                    &[
                        &tenants, &waybills, &carriers, &origins, &dests, &couriers, &ws, &we,
                        &periods, &created, &masked, &slots[0], &slots[1], &slots[2], &slots[3],
                        &slots[4], &slots[5], &slots[6],
                    ],
                )
                .map_err(err)?;
            let mut fresh: HashMap<String, bool> = inserted
                .iter()
                .filter_map(|r| r.try_get::<_, String>(0).ok())
                .map(|w| (w, true))
                .collect();
            let (mut bt, mut bh, mut bw, mut bp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for s in chunk {
                // The first row with a waybill claims it; a later one in the
                // same batch is a duplicate like any other.
                match fresh.get_mut(&s.waybill_no) {
                    Some(unclaimed) if *unclaimed => {
                        *unclaimed = false;
                        out.push(InsertOutcome::Inserted);
                        for b in &s.blind {
                            bt.push(s.tenant.as_str());
                            bh.push(b.hash.as_slice());
                            bw.push(s.waybill_no.as_str());
                            bp.push(b.party.as_str());
                        }
                    }
                    _ => out.push(InsertOutcome::Duplicate),
                }
            }
            if !bt.is_empty() {
                self.conn
                    .execute(
                        "INSERT INTO blind_index (tenant, hash, waybill_no, party) \
                         SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
                        &[&bt, &bh, &bw, &bp],
                    )
                    .map_err(err)?;
            }
        }
        Ok(out)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn.batch_execute("COMMIT").map_err(err)?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if self.open {
            // If this fails the pool's health check discards the connection.
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn begin(&self) -> Result<Box<dyn StoreTx + '_>, StoreError> {
        let mut conn = self.conn()?;
        conn.batch_execute("BEGIN").map_err(err)?;
        Ok(Box::new(PgTx { conn, open: true }))
    }

    fn get_shipment(
        &self,
        tenant: &str,
        waybill: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError> {
        let mut conn = self.conn()?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM shipments WHERE tenant = $1 AND waybill_no = $2"
                ),
                &[&tenant, &waybill],
            )
            .map_err(err)?;
        row.as_ref().map(record_from).transpose()
    }

    fn get_ciphertext(
        &self,
        tenant: &str,
        waybill: &str,
        slot: usize,
    ) -> Result<Option<(String, Option<Vec<u8>>)>, StoreError> {
        let column = SLOT_COLUMNS
            .get(slot)
            .ok_or_else(|| StoreError(format!("no ciphertext slot {slot}")))?;
        let mut conn = self.conn()?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT period, {column} FROM shipments WHERE tenant = $1 AND waybill_no = $2"
                ),
                &[&tenant, &waybill],
            )
            .map_err(err)?;
        row.map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .transpose()
    }

    fn update_shipment(
        &self,
        tenant: &str,
        waybill: &str,
        expected: Status,
        update: &StoredUpdate,
    ) -> Result<bool, StoreError> {
        let (sql, status) = crate::update_sql(update, true);
        let mut conn = self.conn()?;
        let ws = update.window.map(|w| w.0);
        let we = update.window.map(|w| w.1);
        let n = conn
            .execute(
                &sql,
                &[
                    &update.at,
                    &status,
                    &update.courier,
                    &ws,
                    &we,
                    &tenant,
                    &waybill,
                    &expected.as_str(),
                ],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn find_blind(
        &self,
        tenant: &str,
        hash: &[u8; 16],
    ) -> Result<Vec<(String, Party)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(
                "SELECT waybill_no, party FROM blind_index WHERE tenant = $1 AND hash = $2",
                &[&tenant, &hash.as_slice()],
            )
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(err)?,
                    parse_party(r.try_get(1).map_err(err)?)?,
                ))
            })
            .collect()
    }

    fn get_data_key(&self, tenant: &str, period: &str) -> Result<Option<WrappedKey>, StoreError> {
        let mut conn = self.conn()?;
        let row = conn
            .query_opt(
                "SELECT tenant, period, kek_version, wrapped, created_at FROM data_keys WHERE tenant = $1 AND period = $2",
                &[&tenant, &period],
            )
            .map_err(err)?;
        row.as_ref().map(wrapped_from).transpose()
    }

    fn put_data_key_if_absent(&self, key: &WrappedKey) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO data_keys (tenant, period, kek_version, wrapped, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&key.tenant, &key.period, &i64::from(key.kek_version), &key.wrapped, &key.created_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn data_keys(&self) -> Result<Vec<WrappedKey>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query("SELECT tenant, period, kek_version, wrapped, created_at FROM data_keys ORDER BY tenant, period", &[])
            .map_err(err)?;
        rows.iter().map(wrapped_from).collect()
    }

    fn rewrap_data_key(&self, key: &WrappedKey, old_version: u32) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = conn
            .execute(
                "UPDATE data_keys SET kek_version = $1, wrapped = $2 WHERE tenant = $3 AND period = $4 AND kek_version = $5 AND wrapped IS NOT NULL",
                &[&i64::from(key.kek_version), &key.wrapped, &key.tenant, &key.period, &i64::from(old_version)],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn destroy_data_key(&self, tenant: &str, period: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = extract(epoch from now())::bigint WHERE tenant = $1 AND period = $2",
            &[&tenant, &period],
        )
        .map_err(err)?;
        Ok(())
    }

    fn erase_party(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        masked: &MaskedView,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        let sets: Vec<String> = schema::party_columns(party)
            .iter()
            .map(|c| format!("{c} = NULL"))
            .collect();
        let masked = serde_json::to_string(masked).map_err(err)?;
        tx.execute(
            &format!(
                "UPDATE shipments SET {}, masked = $1 WHERE tenant = $2 AND waybill_no = $3",
                sets.join(", ")
            ),
            &[&masked, &tenant, &waybill],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM blind_index WHERE tenant = $1 AND waybill_no = $2 AND party = $3",
            &[&tenant, &waybill, &party.as_str()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn expired(&self, cutoff: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(
                "SELECT tenant, waybill_no FROM shipments WHERE terminal_at IS NOT NULL AND purged_at IS NULL AND terminal_at < $1 LIMIT $2",
                &[&cutoff, &limit],
            )
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .collect()
    }

    fn purge(&self, tenant: &str, waybill: &str, at: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        let sets: Vec<String> = SLOT_COLUMNS.iter().map(|c| format!("{c} = NULL")).collect();
        tx.execute(
            &format!(
                "UPDATE shipments SET {}, purged_at = $1 WHERE tenant = $2 AND waybill_no = $3",
                sets.join(", ")
            ),
            &[&at, &tenant, &waybill],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM blind_index WHERE tenant = $1 AND waybill_no = $2",
            &[&tenant, &waybill],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn shreddable_periods(&self, before: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(&number_params(crate::SHREDDABLE_SQL), &[&before])
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .collect()
    }

    fn audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO audit_events (at, tenant, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&e.at, &e.tenant, &e.actor, &e.action, &e.detail],
        )
        .map_err(err)?;
        Ok(())
    }

    fn audit_events(&self, tenant: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query("SELECT at, tenant, actor, action, detail FROM audit_events WHERE tenant = $1 ORDER BY id", &[&tenant])
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    at: r.try_get(0).map_err(err)?,
                    tenant: r.try_get(1).map_err(err)?,
                    actor: r.try_get(2).map_err(err)?,
                    action: r.try_get(3).map_err(err)?,
                    detail: r.try_get(4).map_err(err)?,
                })
            })
            .collect()
    }

    fn count_shipments(&self, tenant: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let n: i64 = conn
            .query_one(
                "SELECT count(*) FROM shipments WHERE tenant = $1",
                &[&tenant],
            )
            .and_then(|r| r.try_get(0))
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
        let mut conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM shipments WHERE tenant = $1 \
                     AND ($2::TEXT IS NULL OR status = $2) AND ($3::TEXT IS NULL OR waybill_no > $3) \
                     ORDER BY waybill_no LIMIT $4"
                ),
                &[&tenant, &status.map(Status::as_str), &after, &limit],
            )
            .map_err(err)?;
        rows.iter().map(record_from).collect()
    }

    fn shipment_counts(&self, tenant: &str) -> Result<Vec<(Status, u64)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(
                "SELECT status, count(*) FROM shipments WHERE tenant = $1 GROUP BY status ORDER BY status",
                &[&tenant],
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let s: String = row.try_get(0).map_err(err)?;
            let n: i64 = row.try_get(1).map_err(err)?;
            out.push((parse_status(&s)?, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    fn put_tenant(&self, id: &str, name: &str, at: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&id, &name, &at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn put_principal(&self, p: &Principal) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO principals (tenant, id, role, station, status, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant, id) DO UPDATE SET role = excluded.role, station = excluded.station, status = excluded.status",
            &[&p.tenant, &p.id, &p.role, &p.station, &p.status, &p.created_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO api_keys (id, tenant, principal, hash, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&k.id, &k.tenant, &k.principal, &k.hash, &k.created_at, &k.expires_at, &k.revoked_at],
        )
        .map_err(err)?;
        Ok(())
    }

    fn find_api_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, Principal)>, StoreError> {
        let mut conn = self.conn()?;
        let row = conn
            .query_opt(
                "SELECT k.id, k.tenant, k.principal, k.hash, k.created_at, k.expires_at, k.revoked_at, \
                 p.role, p.station, p.status, p.created_at \
                 FROM api_keys k JOIN principals p ON p.tenant = k.tenant AND p.id = k.principal WHERE k.hash = $1",
                &[&hash],
            )
            .map_err(err)?;
        let Some(r) = row else { return Ok(None) };
        let key = ApiKeyRecord {
            id: r.try_get(0).map_err(err)?,
            tenant: r.try_get(1).map_err(err)?,
            principal: r.try_get(2).map_err(err)?,
            hash: r.try_get(3).map_err(err)?,
            created_at: r.try_get(4).map_err(err)?,
            expires_at: r.try_get(5).map_err(err)?,
            revoked_at: r.try_get(6).map_err(err)?,
        };
        let principal = Principal {
            tenant: key.tenant.clone(),
            id: key.principal.clone(),
            role: r.try_get(7).map_err(err)?,
            station: r.try_get(8).map_err(err)?,
            status: r.try_get(9).map_err(err)?,
            created_at: r.try_get(10).map_err(err)?,
        };
        Ok(Some((key, principal)))
    }

    fn get_principal(&self, tenant: &str, id: &str) -> Result<Option<Principal>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? AND id = ?",
            access::PRINCIPAL
        ));
        conn.query_opt(&sql, &[&tenant, &id])
            .map_err(err)?
            .map(|r| principal_from(&r))
            .transpose()
    }

    fn list_principals(&self, tenant: &str) -> Result<Vec<Principal>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? ORDER BY id",
            access::PRINCIPAL
        ));
        conn.query(&sql, &[&tenant])
            .map_err(err)?
            .iter()
            .map(principal_from)
            .collect()
    }

    fn list_api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? ORDER BY created_at, id",
            access::API_KEY
        ));
        conn.query(&sql, &[&tenant])
            .map_err(err)?
            .iter()
            .map(|r| {
                Ok(ApiKeyRecord {
                    id: r.try_get(0).map_err(err)?,
                    tenant: r.try_get(1).map_err(err)?,
                    principal: r.try_get(2).map_err(err)?,
                    hash: r.try_get(3).map_err(err)?,
                    created_at: r.try_get(4).map_err(err)?,
                    expires_at: r.try_get(5).map_err(err)?,
                    revoked_at: r.try_get(6).map_err(err)?,
                })
            })
            .collect()
    }

    fn revoke_api_key(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = conn
            .execute(&number_params(access::REVOKE_KEY), &[&at, &tenant, &id])
            .map_err(err)?;
        Ok(n == 1)
    }

    fn take_quota(
        &self,
        tenant: &str,
        principal: &str,
        windows: &[QuotaWindow],
    ) -> Result<Option<usize>, StoreError> {
        if let Some(i) = windows.iter().position(|w| w.limit <= 0) {
            return Ok(Some(i));
        }
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        // Counters are not worth a WAL flush per reveal; the row lock of
        // ON CONFLICT DO UPDATE still makes each increment atomic across
        // servers (READ COMMITTED re-checks the WHERE on the newest row).
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(err)?;
        let sql = number_params(access::TAKE_QUOTA);
        for (i, w) in windows.iter().enumerate() {
            let row = tx
                .query_opt(&sql, &[&tenant, &principal, &w.secs, &w.start, &w.limit])
                .map_err(err)?;
            if row.is_none() {
                return Ok(Some(i));
            }
        }
        tx.commit().map_err(err)?;
        Ok(None)
    }

    fn prune_quota(&self, before: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        conn.execute(&number_params(access::PRUNE_QUOTA), &[&before])
            .map_err(err)
    }

    fn put_ticket(&self, t: &Ticket) -> Result<InsertOutcome, StoreError> {
        let mut conn = self.conn()?;
        let n = conn
            .execute(
                &number_params(access::PUT_TICKET),
                &[
                    &t.tenant,
                    &t.id,
                    &t.waybill_no,
                    &t.opened_by,
                    &t.opened_at,
                    &t.closed_at,
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
        let mut conn = self.conn()?;
        let Some(r) = conn
            .query_opt(&number_params(access::TICKET), &[&tenant, &id])
            .map_err(err)?
        else {
            return Ok(None);
        };
        Ok(Some(Ticket {
            tenant: r.try_get(0).map_err(err)?,
            id: r.try_get(1).map_err(err)?,
            waybill_no: r.try_get(2).map_err(err)?,
            opened_by: r.try_get(3).map_err(err)?,
            opened_at: r.try_get(4).map_err(err)?,
            closed_at: r.try_get(5).map_err(err)?,
        }))
    }

    fn put_break_glass(&self, b: &BreakGlass) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(access::PUT_BREAK_GLASS),
            &[
                &b.tenant,
                &b.id,
                &b.requester,
                &b.waybill_no,
                &b.party,
                &b.field,
                &b.justification,
                &b.created_at,
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn get_break_glass(&self, tenant: &str, id: &str) -> Result<Option<BreakGlass>, StoreError> {
        let mut conn = self.conn()?;
        let Some(r) = conn
            .query_opt(&number_params(access::BREAK_GLASS), &[&tenant, &id])
            .map_err(err)?
        else {
            return Ok(None);
        };
        Ok(Some(BreakGlass {
            tenant: r.try_get(0).map_err(err)?,
            id: r.try_get(1).map_err(err)?,
            requester: r.try_get(2).map_err(err)?,
            waybill_no: r.try_get(3).map_err(err)?,
            party: r.try_get(4).map_err(err)?,
            field: r.try_get(5).map_err(err)?,
            justification: r.try_get(6).map_err(err)?,
            created_at: r.try_get(7).map_err(err)?,
            approved_by: r.try_get(8).map_err(err)?,
            approved_at: r.try_get(9).map_err(err)?,
            used_at: r.try_get(10).map_err(err)?,
        }))
    }

    fn approve_break_glass(
        &self,
        tenant: &str,
        id: &str,
        approver: &str,
        at: i64,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = conn
            .execute(
                &number_params(access::APPROVE_BREAK_GLASS),
                &[&approver, &at, &tenant, &id, &approver, &not_before],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn use_break_glass(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = conn
            .execute(
                &number_params(access::USE_BREAK_GLASS),
                &[&at, &tenant, &id],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn put_alert(&self, a: &AlertRecord) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(risk::PUT_ALERT),
            &[
                &a.tenant,
                &a.id,
                &a.actor,
                &a.raised_at_ms,
                &a.severity,
                &a.score_milli,
                &a.body,
                &a.status,
                &a.verdict,
                &a.analyst,
                &a.note,
                &a.updated_at,
            ],
        )
        .map_err(err)?;
        Ok(())
    }

    fn get_alert(&self, tenant: &str, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!("{} WHERE tenant = ? AND id = ?", risk::ALERT));
        conn.query_opt(&sql, &[&tenant, &id])
            .map_err(err)?
            .map(|r| alert_from(&r))
            .transpose()
    }

    fn list_alerts(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let mut conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let order = "ORDER BY raised_at_ms DESC, id LIMIT ?";
        let rows = match status {
            Some(st) => conn.query(
                &number_params(&format!(
                    "{} WHERE tenant = ? AND status = ? {order}",
                    risk::ALERT
                )),
                &[&tenant, &st, &limit],
            ),
            None => conn.query(
                &number_params(&format!("{} WHERE tenant = ? {order}", risk::ALERT)),
                &[&tenant, &limit],
            ),
        }
        .map_err(err)?;
        rows.iter().map(alert_from).collect()
    }

    fn update_alert(
        &self,
        tenant: &str,
        id: &str,
        u: &AlertUpdate<'_>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(risk::UPDATE_ALERT);
        for from in u.from {
            let n = conn
                .execute(
                    &sql,
                    &[
                        &u.status, &u.verdict, &u.analyst, &u.note, &u.at, &tenant, &id, from,
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
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(risk::PUT_SUPPRESSION),
            &[&tenant, &actor, &signal, &until],
        )
        .map_err(err)?;
        Ok(())
    }

    fn suppressions(
        &self,
        tenant: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(&number_params(risk::SUPPRESSIONS), &[&tenant, &now_ms])
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(err)?,
                    r.try_get(1).map_err(err)?,
                    r.try_get(2).map_err(err)?,
                ))
            })
            .collect()
    }

    fn put_quota_override(&self, o: &QuotaOverride) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(risk::PUT_QUOTA_OVERRIDE),
            &[
                &o.tenant,
                &o.principal,
                &o.per_hour,
                &o.per_day,
                &o.until,
                &o.reason,
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
        let mut conn = self.conn()?;
        let Some(r) = conn
            .query_opt(
                &number_params(risk::QUOTA_OVERRIDE),
                &[&tenant, &principal, &now],
            )
            .map_err(err)?
        else {
            return Ok(None);
        };
        Ok(Some(QuotaOverride {
            tenant: r.try_get(0).map_err(err)?,
            principal: r.try_get(1).map_err(err)?,
            per_hour: r.try_get(2).map_err(err)?,
            per_day: r.try_get(3).map_err(err)?,
            until: r.try_get(4).map_err(err)?,
            reason: r.try_get(5).map_err(err)?,
        }))
    }

    fn put_approval_hold(
        &self,
        tenant: &str,
        principal: &str,
        until: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(risk::PUT_APPROVAL_HOLD),
            &[&tenant, &principal, &until, &reason],
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
        let mut conn = self.conn()?;
        conn.query_opt(
            &number_params(risk::APPROVAL_HOLD),
            &[&tenant, &principal, &now],
        )
        .map_err(err)?
        .map(|r| r.try_get(0).map_err(err))
        .transpose()
    }

    fn lift_restrictions(
        &self,
        tenant: &str,
        principal: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        let mut n = 0;
        for sql in [risk::LIFT_OVERRIDE, risk::LIFT_HOLD] {
            n += tx
                .execute(&number_params(sql), &[&tenant, &principal, &reason])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }

    fn put_pool_numbers(
        &self,
        tenant: &str,
        city: &str,
        numbers: &[String],
        at: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        let sql = number_params(numbers::PUT_POOL);
        let stmt = tx.prepare(&sql).map_err(err)?;
        let mut added = 0;
        for n in numbers {
            added += tx.execute(&stmt, &[&tenant, n, &city, &at]).map_err(err)?;
        }
        // An empty payload tells the other servers to reload (the pool
        // included).
        tx.execute("SELECT pg_notify($1, '')", &[&self.channel])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(added as usize)
    }

    fn pool_numbers(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn.query(numbers::POOL, &[]).map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(err)?,
                    r.try_get(1).map_err(err)?,
                    r.try_get(2).map_err(err)?,
                ))
            })
            .collect()
    }

    fn bind_number(&self, b: &Binding, now: i64) -> Result<BindOutcome, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        // Like quota counters, bindings commit without waiting for the WAL
        // flush: a server crash cannot lose one, a database power failure
        // can forget the last few (their calls are then refused, never
        // misrouted).
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(err)?;
        let ext = i64::from(b.ext);
        let in_the_way = tx
            .query(
                &number_params(numbers::EXPIRED_IN_THE_WAY),
                &[
                    &b.tenant,
                    &b.waybill_no,
                    &now,
                    &b.tenant,
                    &b.number,
                    &ext,
                    &&b.a_hash[..],
                    &&b.b_hash[..],
                    &&SLOT_MARKER[..],
                    &now,
                ],
            )
            .map_err(err)?;
        let mut ended = Vec::with_capacity(in_the_way.len());
        for row in in_the_way {
            let id: String = row.try_get(0).map_err(err)?;
            self.end_in(&mut tx, &b.tenant, &id, now, "expired")?;
            ended.push(id);
        }
        let n = tx
            .execute(
                &number_params(numbers::PUT_BINDING),
                &[
                    &b.tenant,
                    &b.id,
                    &b.waybill_no,
                    &b.courier,
                    &b.city,
                    &b.number,
                    &ext,
                    &&b.a_hash[..],
                    &&b.b_hash[..],
                    &b.a_sealed,
                    &b.b_sealed,
                    &b.period,
                    &b.created_at,
                    &b.window_end,
                    &b.expires_at,
                ],
            )
            .map_err(err)?;
        if n == 0 {
            let live = tx
                .query_opt(
                    &number_params(numbers::LIVE_FOR_WAYBILL),
                    &[&b.tenant, &b.waybill_no],
                )
                .map_err(err)?;
            return match live {
                Some(r) => Ok(BindOutcome::AlreadyBound(r.try_get(0).map_err(err)?)),
                None => Ok(BindOutcome::SlotTaken),
            };
        }
        let slot = number_params(numbers::PUT_SLOT);
        for hash in crate::slot_hashes(b) {
            if tx
                .execute(&slot, &[&b.tenant, &b.number, &ext, &hash, &b.id])
                .map_err(err)?
                == 0
            {
                // Dropping the transaction rolls the binding back.
                return Ok(BindOutcome::SlotTaken);
            }
        }
        self.notify(&mut tx, &b.tenant, &b.id)?;
        tx.commit().map_err(err)?;
        Ok(BindOutcome::Bound(ended))
    }

    fn end_binding(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(err)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(err)?;
        let ended = self.end_in(&mut tx, tenant, id, at, reason)?;
        tx.commit().map_err(err)?;
        Ok(ended)
    }

    fn live_binding(&self, tenant: &str, waybill: &str) -> Result<Option<Binding>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? AND waybill_no = ? AND ended_at IS NULL",
            numbers::BINDING
        ));
        conn.query_opt(&sql, &[&tenant, &waybill])
            .map_err(err)?
            .map(|r| binding_from(&r))
            .transpose()
    }

    fn get_binding(&self, tenant: &str, id: &str) -> Result<Option<Binding>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? AND id = ? AND ended_at IS NULL",
            numbers::BINDING
        ));
        conn.query_opt(&sql, &[&tenant, &id])
            .map_err(err)?
            .map(|r| binding_from(&r))
            .transpose()
    }

    fn binding_by_slot(
        &self,
        tenant: &str,
        number: &str,
        ext: u16,
        phone_hash: &[u8],
    ) -> Result<Option<Binding>, StoreError> {
        let mut conn = self.conn()?;
        let sql = number_params(&format!(
            "{} WHERE tenant = ? AND ended_at IS NULL AND id = ({})",
            numbers::BINDING,
            numbers::SLOT_OWNER
        ));
        conn.query_opt(
            &sql,
            &[&tenant, &tenant, &number, &i64::from(ext), &phone_hash],
        )
        .map_err(err)?
        .map(|r| binding_from(&r))
        .transpose()
    }

    fn live_bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(&format!("{} WHERE ended_at IS NULL", numbers::BINDING), &[])
            .map_err(err)?;
        rows.iter().map(binding_from).collect()
    }

    fn expired_bindings(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(&number_params(numbers::EXPIRED), &[&now, &(limit as i64)])
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .collect()
    }

    fn watch_bindings(&self, sink: BindingSink) -> Result<bool, StoreError> {
        let config = self.config.clone();
        let channel = self.channel.clone();
        // Connect once here so that a bad configuration fails the caller.
        let first = listen(&config, &channel)?;
        std::thread::Builder::new()
            .name("pg-binding-listener".to_owned())
            .spawn(move || listen_loop(first, &config, &channel, &sink))
            .map_err(err)?;
        Ok(true)
    }

    fn put_principal_phone(
        &self,
        tenant: &str,
        principal: &str,
        phone: &PrincipalPhone,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.execute(
            &number_params(numbers::PUT_PHONE),
            &[
                &tenant,
                &principal,
                &phone.hash,
                &phone.sealed,
                &phone.period,
                &at,
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
        let mut conn = self.conn()?;
        conn.query_opt(&number_params(numbers::PHONE), &[&tenant, &principal])
            .map_err(err)?
            .map(|r| {
                Ok(PrincipalPhone {
                    hash: r.try_get(0).map_err(err)?,
                    sealed: r.try_get(1).map_err(err)?,
                    period: r.try_get(2).map_err(err)?,
                })
            })
            .transpose()
    }

    fn principal_by_phone(&self, tenant: &str, hash: &[u8]) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        conn.query_opt(&number_params(numbers::BY_PHONE), &[&tenant, &hash])
            .map_err(err)?
            .map(|r| r.try_get(0).map_err(err))
            .transpose()
    }
}

impl PgStore {
    fn notify(
        &self,
        tx: &mut postgres::Transaction<'_>,
        tenant: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        // Delivered at commit, in commit order, to every listening server.
        let payload = format!("{tenant}\u{1f}{id}");
        tx.execute("SELECT pg_notify($1, $2)", &[&self.channel, &payload])
            .map_err(err)?;
        Ok(())
    }

    fn end_in(
        &self,
        tx: &mut postgres::Transaction<'_>,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = tx
            .execute(&number_params(numbers::END), &[&at, &reason, &tenant, &id])
            .map_err(err)?;
        if n > 0 {
            tx.execute(&number_params(numbers::FREE_SLOTS), &[&tenant, &id])
                .map_err(err)?;
            self.notify(tx, tenant, id)?;
        }
        Ok(n > 0)
    }
}

fn listen(config: &postgres::Config, channel: &str) -> Result<postgres::Client, StoreError> {
    let mut client = config.connect(NoTls).map_err(err)?;
    // The channel name is ours (letters, digits, underscores).
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .map_err(err)?;
    Ok(client)
}

/// Hands notifications to `sink` until the process ends; after a lost
/// connection it reconnects (backing off) and asks for a full resync,
/// since notifications sent meanwhile are gone.
fn listen_loop(
    first: postgres::Client,
    config: &postgres::Config,
    channel: &str,
    sink: &BindingSink,
) {
    let mut client = Some(first);
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let Some(c) = client.as_mut() else {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
            match listen(config, channel) {
                Ok(c) => {
                    client = Some(c);
                    backoff = std::time::Duration::from_millis(100);
                    sink(BindingChange::Resync);
                }
                Err(e) => tracing::warn!(error = %e, "binding listener: reconnecting"),
            }
            continue;
        };
        let mut lost = false;
        {
            let mut notes = c.notifications();
            let mut it = notes.timeout_iter(std::time::Duration::from_secs(30));
            loop {
                match it.next() {
                    Ok(Some(n)) => match n.payload().split_once('\u{1f}') {
                        Some((tenant, id)) => {
                            sink(BindingChange::Changed(tenant.to_owned(), id.to_owned()));
                        }
                        None => sink(BindingChange::Resync),
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "binding listener: connection lost");
                        lost = true;
                        break;
                    }
                }
            }
        }
        if lost || c.is_closed() {
            client = None;
        } else if c.simple_query("SELECT 1").is_err() {
            // A quiet connection is probed between waits.
            client = None;
        }
    }
}

fn binding_from(r: &postgres::Row) -> Result<Binding, StoreError> {
    let g = |e: postgres::Error| err(e);
    let ext: i64 = r.try_get(6).map_err(g)?;
    Ok(Binding {
        tenant: r.try_get(0).map_err(g)?,
        id: r.try_get(1).map_err(g)?,
        waybill_no: r.try_get(2).map_err(g)?,
        courier: r.try_get(3).map_err(g)?,
        city: r.try_get(4).map_err(g)?,
        number: r.try_get(5).map_err(g)?,
        ext: u16::try_from(ext)
            .map_err(|_| StoreError("number_bindings.ext: out of range".to_owned()))?,
        a_hash: parse_hash(r.try_get::<_, &[u8]>(7).map_err(g)?)?,
        b_hash: parse_hash(r.try_get::<_, &[u8]>(8).map_err(g)?)?,
        a_sealed: r.try_get(9).map_err(g)?,
        b_sealed: r.try_get(10).map_err(g)?,
        period: r.try_get(11).map_err(g)?,
        created_at: r.try_get(12).map_err(g)?,
        window_end: r.try_get(13).map_err(g)?,
        expires_at: r.try_get(14).map_err(g)?,
    })
}

fn alert_from(r: &postgres::Row) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        tenant: r.try_get(0).map_err(err)?,
        id: r.try_get(1).map_err(err)?,
        actor: r.try_get(2).map_err(err)?,
        raised_at_ms: r.try_get(3).map_err(err)?,
        severity: r.try_get(4).map_err(err)?,
        score_milli: r.try_get(5).map_err(err)?,
        body: r.try_get(6).map_err(err)?,
        status: r.try_get(7).map_err(err)?,
        verdict: r.try_get(8).map_err(err)?,
        analyst: r.try_get(9).map_err(err)?,
        note: r.try_get(10).map_err(err)?,
        updated_at: r.try_get(11).map_err(err)?,
    })
}

fn principal_from(r: &postgres::Row) -> Result<Principal, StoreError> {
    Ok(Principal {
        tenant: r.try_get(0).map_err(err)?,
        id: r.try_get(1).map_err(err)?,
        role: r.try_get(2).map_err(err)?,
        station: r.try_get(3).map_err(err)?,
        status: r.try_get(4).map_err(err)?,
        created_at: r.try_get(5).map_err(err)?,
    })
}
