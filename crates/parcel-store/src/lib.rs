//! Storage backends for the vault: the embedded default, one SQLite file in
//! the data directory, and PostgreSQL for several servers sharing one
//! database. Both implement [`parcel_vault::store::Store`], run the same
//! numbered migrations at start-up, and pass the same test suite
//! (`tests/conformance.rs`).
#![deny(missing_docs)]

mod checkpointer;
mod postgres;
mod schema;
mod sqlite;
mod tlog;

use std::path::Path;
use std::sync::Arc;

use parcel_vault::model::{MaskedView, Party, Status};
use parcel_vault::store::{Store, StoreError, StoredUpdate};

pub use crate::postgres::PgStore;
pub use crate::sqlite::SqliteStore;
pub use crate::tlog::{LOG_FILE, PgLog, SqliteLog, open_log};

/// The SQLite file's name inside the data directory.
pub const SQLITE_FILE: &str = "parcelguard.db";

/// Opens the store named by `url`: `postgres://…` (or `postgresql://…`), a
/// `sqlite://PATH`, or empty for `DATA_DIR/parcelguard.db`.
pub fn open(url: &str, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, None)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(SqliteStore::open(Path::new(path))?))
    } else if url.is_empty() {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError(format!("{}: {e}", data_dir.display())))?;
        Ok(Arc::new(SqliteStore::open(&data_dir.join(SQLITE_FILE))?))
    } else {
        Err(StoreError(
            "database url: expected postgres://…, sqlite://PATH or nothing (the embedded default)"
                .to_owned(),
        ))
    }
}

/// A connection pool for `url`. With `schema` (letters, digits, `_`),
/// every connection works in that schema, created if missing: tests use it
/// to stay apart from each other.
pub(crate) fn pg_pool(
    url: &str,
    schema: Option<&str>,
    max_size: u32,
) -> Result<r2d2::Pool<r2d2_postgres::PostgresConnectionManager<::postgres::NoTls>>, String> {
    let config = pg_config(url, schema)?;
    r2d2::Pool::builder()
        .max_size(max_size)
        .build(r2d2_postgres::PostgresConnectionManager::new(
            config,
            ::postgres::NoTls,
        ))
        .map_err(|e| format!("postgres: {e}"))
}

/// Connection settings for `url`, working in `schema` (created if missing)
/// when one is given.
pub(crate) fn pg_config(url: &str, schema: Option<&str>) -> Result<::postgres::Config, String> {
    let mut config: ::postgres::Config = url.parse().map_err(|e| format!("database url: {e}"))?;
    if let Some(schema) = schema {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err("schema name: letters, digits and _ only".to_owned());
        }
        let mut client = config
            .connect(::postgres::NoTls)
            .map_err(|e| format!("postgres: {e}"))?;
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .map_err(|e| format!("postgres: {e}"))?;
        config.options(&format!("-c search_path={schema}"));
    }
    Ok(config)
}

/// The slot row that reserves an extension on a number: no keyed hash of a
/// phone is all zeros.
pub(crate) const SLOT_MARKER: [u8; parcel_numbers::HASH_LEN] = [0; parcel_numbers::HASH_LEN];

/// The slot keys a binding takes: both phones, and the extension itself.
pub(crate) fn slot_hashes(b: &parcel_numbers::Binding) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = vec![&b.a_hash[..], &b.b_hash[..]];
    if b.ext != 0 {
        out.push(&SLOT_MARKER[..]);
    }
    // One order for every writer, so that two binds sharing phones lock
    // their slot rows in the same order and cannot deadlock.
    out.sort();
    out
}

pub(crate) fn parse_hash(bytes: &[u8]) -> Result<parcel_numbers::PhoneHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError("number_bindings: phone hash of the wrong length".to_owned()))
}

pub(crate) fn parse_status(s: &str) -> Result<Status, StoreError> {
    s.parse()
        .map_err(|_| StoreError("shipments.status: unknown value in database".to_owned()))
}

pub(crate) fn parse_party(s: &str) -> Result<Party, StoreError> {
    s.parse()
        .map_err(|_| StoreError("blind_index.party: unknown value in database".to_owned()))
}

pub(crate) fn parse_masked(s: &str) -> Result<MaskedView, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError(format!("shipments.masked: malformed in database: {e}")))
}

/// The UPDATE for a status/courier/window change; parameters in order: at,
/// status, courier, window start, window end, tenant, waybill, expected.
pub(crate) fn update_sql(update: &StoredUpdate, postgres: bool) -> (String, Option<&'static str>) {
    let mut sets = vec![
        "updated_at = ?".to_owned(),
        "status = COALESCE(?, status)".to_owned(),
    ];
    if let Some(status) = update.status {
        let col = schema::status_column(status);
        sets.push(format!("{col} = updated_at"));
        if status.is_terminal() {
            sets.push("terminal_at = updated_at".to_owned());
        }
    }
    sets.push("courier = COALESCE(?, courier)".to_owned());
    sets.push("window_start = COALESCE(?, window_start)".to_owned());
    sets.push("window_end = COALESCE(?, window_end)".to_owned());
    // In SQL, SET right-hand sides see the old row, so `updated_at` in the
    // status columns would be the previous time: bind the time explicitly.
    let sql = format!(
        "UPDATE shipments SET {} WHERE tenant = ? AND waybill_no = ? AND status = ?",
        sets.join(", ")
    )
    .replace("= updated_at", "= ?1");
    let sql = if postgres { number_params(&sql) } else { sql };
    (sql, update.status.map(Status::as_str))
}

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, …` (`?1` keeps 1).
pub(crate) fn number_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' {
            if chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('$');
                continue;
            }
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Live data keys of closed periods with no unpurged shipment left.
pub(crate) const SHREDDABLE_SQL: &str = "SELECT d.tenant, d.period FROM data_keys d \
    WHERE d.wrapped IS NOT NULL AND d.period < ? AND NOT EXISTS \
    (SELECT 1 FROM shipments s WHERE s.tenant = d.tenant AND s.period = d.period AND s.purged_at IS NULL)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering() {
        assert_eq!(
            number_params("a = ? AND b = ?1 AND c = ?"),
            "a = $1 AND b = $1 AND c = $2"
        );
    }
}
