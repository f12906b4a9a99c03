//! The schema, as numbered migrations applied in order at start-up. The
//! same tables exist on both backends; only column types differ (`BLOB` and
//! `BYTEA`), so the SQL is written once with a `{blob}` placeholder.

/// `(version, description, SQL)`; never edit a released entry, add one.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "vault tables",
    r#"
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE principals (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    role        TEXT NOT NULL,
    station     TEXT,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    principal   TEXT NOT NULL,
    hash        {blob} NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE TABLE data_keys (
    tenant       TEXT NOT NULL,
    period       TEXT NOT NULL,
    kek_version  BIGINT NOT NULL,
    wrapped      {blob},
    created_at   BIGINT NOT NULL,
    destroyed_at BIGINT,
    PRIMARY KEY (tenant, period)
);
CREATE TABLE shipments (
    tenant              TEXT NOT NULL,
    waybill_no          TEXT NOT NULL,
    carrier             TEXT NOT NULL,
    status              TEXT NOT NULL,
    origin_station      TEXT,
    destination_station TEXT,
    courier             TEXT,
    window_start        BIGINT,
    window_end          BIGINT,
    period              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    picked_up_at        BIGINT,
    in_transit_at       BIGINT,
    out_for_delivery_at BIGINT,
    delivered_at        BIGINT,
    returned_at         BIGINT,
    updated_at          BIGINT NOT NULL,
    terminal_at         BIGINT,
    purged_at           BIGINT,
    masked              TEXT NOT NULL,
    sender_name         {blob},
    sender_phone        {blob},
    sender_address      {blob},
    sender_id_number    {blob},
    recipient_name      {blob},
    recipient_phone     {blob},
    recipient_address   {blob},
    PRIMARY KEY (tenant, waybill_no)
);
CREATE INDEX shipments_retention ON shipments (terminal_at)
    WHERE terminal_at IS NOT NULL AND purged_at IS NULL;
CREATE TABLE blind_index (
    tenant      TEXT NOT NULL,
    hash        {blob} NOT NULL,
    waybill_no  TEXT NOT NULL,
    party       TEXT NOT NULL,
    PRIMARY KEY (tenant, hash, waybill_no, party)
){without_rowid};
CREATE TABLE audit_events (
    id          {serial},
    at          BIGINT NOT NULL,
    tenant      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
"#,
)];

/// The SQL of a migration for one backend.
pub(crate) fn render(sql: &str, postgres: bool) -> String {
    if postgres {
        sql.replace("{blob}", "BYTEA")
            .replace("{without_rowid}", "")
            .replace("{serial}", "BIGSERIAL PRIMARY KEY")
    } else {
        sql.replace("{blob}", "BLOB")
            .replace("{without_rowid}", " WITHOUT ROWID")
            .replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT")
    }
}

/// Ciphertext columns in `parcel_vault::model::SLOTS` order.
pub(crate) const SLOT_COLUMNS: [&str; 7] = [
    "sender_name",
    "sender_phone",
    "sender_address",
    "sender_id_number",
    "recipient_name",
    "recipient_phone",
    "recipient_address",
];

/// Columns read into a `ShipmentRecord`, in the order `record_from` expects.
pub(crate) const RECORD_COLUMNS: &str = "tenant, waybill_no, carrier, status, origin_station, \
    destination_station, courier, window_start, window_end, period, created_at, picked_up_at, \
    in_transit_at, out_for_delivery_at, delivered_at, returned_at, updated_at, masked, purged_at";

/// The column holding the time a status was reached.
pub(crate) fn status_column(status: parcel_vault::model::Status) -> &'static str {
    use parcel_vault::model::Status;
    match status {
        Status::Created => "created_at",
        Status::PickedUp => "picked_up_at",
        Status::InTransit => "in_transit_at",
        Status::OutForDelivery => "out_for_delivery_at",
        Status::Delivered => "delivered_at",
        Status::Returned => "returned_at",
    }
}

/// The ciphertext columns of one party.
pub(crate) fn party_columns(party: parcel_vault::model::Party) -> &'static [&'static str] {
    match party {
        parcel_vault::model::Party::Sender => &SLOT_COLUMNS[..4],
        parcel_vault::model::Party::Recipient => &SLOT_COLUMNS[4..],
    }
}
