//! The schema, as numbered migrations applied in order at start-up. The
//! same tables exist on both backends; only column types differ (`BLOB` and
//! `BYTEA`), so the SQL is written once with a `{blob}` placeholder.

/// `(version, description, SQL)`; never edit a released entry, add one.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "reveal quotas, tickets, break-glass requests",
        r#"
CREATE TABLE reveal_quota (
    tenant       TEXT NOT NULL,
    principal    TEXT NOT NULL,
    window_secs  BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (tenant, principal, window_secs, window_start)
);
CREATE INDEX reveal_quota_start ON reveal_quota (window_start);
CREATE TABLE tickets (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    waybill_no  TEXT NOT NULL,
    opened_by   TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    closed_at   BIGINT,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE break_glass (
    tenant        TEXT NOT NULL,
    id            TEXT NOT NULL,
    requester     TEXT NOT NULL,
    waybill_no    TEXT NOT NULL,
    party         TEXT NOT NULL,
    field         TEXT NOT NULL,
    justification TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    approved_by   TEXT,
    approved_at   BIGINT,
    used_at       BIGINT,
    PRIMARY KEY (tenant, id)
);
"#,
    ),
    (
        3,
        "insider-risk alerts, suppressions, quota overrides",
        r#"
CREATE TABLE alerts (
    tenant       TEXT NOT NULL,
    id           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    raised_at_ms BIGINT NOT NULL,
    severity     TEXT NOT NULL,
    score_milli  BIGINT NOT NULL,
    body         TEXT NOT NULL,
    status       TEXT NOT NULL,
    verdict      TEXT,
    analyst      TEXT,
    note         TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX alerts_by_time ON alerts (tenant, raised_at_ms);
CREATE TABLE alert_suppressions (
    tenant      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    signal      TEXT NOT NULL,
    until_ms    BIGINT NOT NULL,
    PRIMARY KEY (tenant, actor, signal)
);
CREATE TABLE quota_overrides (
    tenant      TEXT NOT NULL,
    principal   TEXT NOT NULL,
    per_hour    BIGINT NOT NULL,
    per_day     BIGINT NOT NULL,
    until       BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (tenant, principal)
);
"#,
    ),
    (
        4,
        "insider-risk approval holds",
        r#"
CREATE TABLE approval_holds (
    tenant      TEXT NOT NULL,
    principal   TEXT NOT NULL,
    until       BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (tenant, principal)
);
"#,
    ),
    (
        5,
        "privacy numbers (AXB bindings) and employees' contact phones",
        r#"
CREATE TABLE number_pool (
    tenant      TEXT NOT NULL,
    number      TEXT NOT NULL,
    city        TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant, number)
);
CREATE TABLE number_bindings (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    waybill_no  TEXT NOT NULL,
    courier     TEXT NOT NULL,
    city        TEXT NOT NULL,
    number      TEXT NOT NULL,
    ext         BIGINT NOT NULL,
    a_hash      {blob} NOT NULL,
    b_hash      {blob} NOT NULL,
    a_sealed    {blob} NOT NULL,
    b_sealed    {blob} NOT NULL,
    period      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    window_end  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    end_reason  TEXT,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX number_bindings_live_waybill ON number_bindings (tenant, waybill_no) WHERE ended_at IS NULL;
CREATE INDEX number_bindings_live_expiry ON number_bindings (expires_at) WHERE ended_at IS NULL;
CREATE TABLE number_slots (
    tenant      TEXT NOT NULL,
    number      TEXT NOT NULL,
    ext         BIGINT NOT NULL,
    phone_hash  {blob} NOT NULL,
    binding     TEXT NOT NULL,
    PRIMARY KEY (tenant, number, ext, phone_hash)
);
CREATE INDEX number_slots_binding ON number_slots (tenant, binding);
CREATE TABLE principal_phones (
    tenant      TEXT NOT NULL,
    principal   TEXT NOT NULL,
    phone_hash  {blob} NOT NULL,
    sealed      {blob} NOT NULL,
    period      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, principal)
);
CREATE INDEX principal_phones_hash ON principal_phones (tenant, phone_hash);
"#,
    ),
];

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

/// SQL of the access-control tables, written once with `?` placeholders
/// (PostgreSQL's `$n` come from `number_params`).
pub(crate) mod access {
    /// Columns of a principal, in `principal_from` order.
    pub(crate) const PRINCIPAL: &str =
        "SELECT tenant, id, role, station, status, created_at FROM principals";
    /// Columns of an API key.
    pub(crate) const API_KEY: &str =
        "SELECT id, tenant, principal, hash, created_at, expires_at, revoked_at FROM api_keys";
    pub(crate) const REVOKE_KEY: &str =
        "UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND id = ? AND revoked_at IS NULL";
    /// One window's increment: no row comes back when the window is full.
    pub(crate) const TAKE_QUOTA: &str = "INSERT INTO reveal_quota (tenant, principal, window_secs, window_start, count) VALUES (?, ?, ?, ?, 1) \
        ON CONFLICT (tenant, principal, window_secs, window_start) DO UPDATE SET count = reveal_quota.count + 1 \
        WHERE reveal_quota.count < ? RETURNING count";
    /// One window's increment by N (given three times, then the limit): no
    /// row comes back when N does not fit.
    pub(crate) const TAKE_QUOTA_N: &str = "INSERT INTO reveal_quota (tenant, principal, window_secs, window_start, count) VALUES (?, ?, ?, ?, ?) \
        ON CONFLICT (tenant, principal, window_secs, window_start) DO UPDATE SET count = reveal_quota.count + ? \
        WHERE reveal_quota.count + ? <= ? RETURNING count";
    /// One window's count so far.
    pub(crate) const QUOTA_COUNT: &str = "SELECT count FROM reveal_quota WHERE tenant = ? AND principal = ? AND window_secs = ? AND window_start = ?";
    pub(crate) const PRUNE_QUOTA: &str = "DELETE FROM reveal_quota WHERE window_start < ?";
    pub(crate) const PUT_TICKET: &str = "INSERT INTO tickets (tenant, id, waybill_no, opened_by, opened_at, closed_at) VALUES (?, ?, ?, ?, ?, ?) \
        ON CONFLICT (tenant, id) DO NOTHING";
    pub(crate) const TICKET: &str = "SELECT tenant, id, waybill_no, opened_by, opened_at, closed_at FROM tickets WHERE tenant = ? AND id = ?";
    pub(crate) const PUT_BREAK_GLASS: &str = "INSERT INTO break_glass (tenant, id, requester, waybill_no, party, field, justification, created_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    pub(crate) const BREAK_GLASS: &str = "SELECT tenant, id, requester, waybill_no, party, field, justification, created_at, approved_by, approved_at, used_at \
        FROM break_glass WHERE tenant = ? AND id = ?";
    pub(crate) const APPROVE_BREAK_GLASS: &str = "UPDATE break_glass SET approved_by = ?, approved_at = ? \
        WHERE tenant = ? AND id = ? AND approved_by IS NULL AND requester <> ? AND created_at >= ?";
    pub(crate) const USE_BREAK_GLASS: &str = "UPDATE break_glass SET used_at = ? \
        WHERE tenant = ? AND id = ? AND approved_at IS NOT NULL AND used_at IS NULL";
}

/// SQL of the insider-risk tables, with `?` placeholders.
pub(crate) mod risk {
    /// Columns of an alert, in `AlertRecord` field order.
    pub(crate) const ALERT: &str = "SELECT tenant, id, actor, raised_at_ms, severity, score_milli, body, status, verdict, analyst, note, updated_at FROM alerts";
    pub(crate) const PUT_ALERT: &str = "INSERT INTO alerts (tenant, id, actor, raised_at_ms, severity, score_milli, body, status, verdict, analyst, note, updated_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    pub(crate) const UPDATE_ALERT: &str = "UPDATE alerts SET status = ?, verdict = COALESCE(?, verdict), analyst = ?, note = COALESCE(?, note), updated_at = ? \
        WHERE tenant = ? AND id = ? AND status = ?";
    pub(crate) const PUT_SUPPRESSION: &str = "INSERT INTO alert_suppressions (tenant, actor, signal, until_ms) VALUES (?, ?, ?, ?) \
        ON CONFLICT (tenant, actor, signal) DO UPDATE SET until_ms = excluded.until_ms";
    pub(crate) const SUPPRESSIONS: &str = "SELECT actor, signal, until_ms FROM alert_suppressions WHERE tenant = ? AND until_ms > ? ORDER BY actor, signal";
    pub(crate) const PUT_QUOTA_OVERRIDE: &str = "INSERT INTO quota_overrides (tenant, principal, per_hour, per_day, until, reason) VALUES (?, ?, ?, ?, ?, ?) \
        ON CONFLICT (tenant, principal) DO UPDATE SET per_hour = excluded.per_hour, per_day = excluded.per_day, until = excluded.until, reason = excluded.reason";
    pub(crate) const QUOTA_OVERRIDE: &str = "SELECT tenant, principal, per_hour, per_day, until, reason FROM quota_overrides WHERE tenant = ? AND principal = ? AND until > ?";
    pub(crate) const PUT_APPROVAL_HOLD: &str = "INSERT INTO approval_holds (tenant, principal, until, reason) VALUES (?, ?, ?, ?) \
        ON CONFLICT (tenant, principal) DO UPDATE SET until = excluded.until, reason = excluded.reason";
    pub(crate) const APPROVAL_HOLD: &str =
        "SELECT reason FROM approval_holds WHERE tenant = ? AND principal = ? AND until > ?";
    pub(crate) const LIFT_OVERRIDE: &str =
        "DELETE FROM quota_overrides WHERE tenant = ? AND principal = ? AND reason = ?";
    pub(crate) const LIFT_HOLD: &str =
        "DELETE FROM approval_holds WHERE tenant = ? AND principal = ? AND reason = ?";
}

/// SQL of the privacy-number tables, with `?` placeholders.
pub(crate) mod numbers {
    /// Columns of a binding, in `parcel_numbers::Binding` field order.
    macro_rules! binding_select {
        () => {
            "SELECT tenant, id, waybill_no, courier, city, number, ext, a_hash, b_hash, a_sealed, b_sealed, \
        period, created_at, window_end, expires_at FROM number_bindings"
        };
    }
    /// Columns of a binding, in `parcel_numbers::Binding` field order.
    pub(crate) const BINDING: &str = binding_select!();
    /// A shipment's live binding (SQLite placeholders).
    pub(crate) const LIVE_BINDING: &str = concat!(
        binding_select!(),
        " WHERE tenant = ? AND waybill_no = ? AND ended_at IS NULL"
    );
    pub(crate) const PUT_POOL: &str = "INSERT INTO number_pool (tenant, number, city, added_at) VALUES (?, ?, ?, ?) \
        ON CONFLICT (tenant, number) DO NOTHING";
    pub(crate) const POOL: &str =
        "SELECT tenant, city, number FROM number_pool ORDER BY tenant, city, number";
    /// Live bindings, past their grace period, that hold one of the slots
    /// a new binding wants or the new binding's shipment: they are ended
    /// first, inside the binding's transaction.
    pub(crate) const EXPIRED_IN_THE_WAY: &str = "SELECT id FROM number_bindings WHERE tenant = ? AND waybill_no = ? AND ended_at IS NULL AND expires_at <= ? \
        UNION SELECT b.id FROM number_slots s JOIN number_bindings b ON b.tenant = s.tenant AND b.id = s.binding \
        WHERE s.tenant = ? AND s.number = ? AND s.ext = ? AND s.phone_hash IN (?, ?, ?) AND b.ended_at IS NULL AND b.expires_at <= ?";
    pub(crate) const END: &str = "UPDATE number_bindings SET ended_at = ?, end_reason = ? WHERE tenant = ? AND id = ? AND ended_at IS NULL";
    pub(crate) const FREE_SLOTS: &str = "DELETE FROM number_slots WHERE tenant = ? AND binding = ?";
    pub(crate) const PUT_BINDING: &str = "INSERT INTO number_bindings (tenant, id, waybill_no, courier, city, number, ext, a_hash, b_hash, \
        a_sealed, b_sealed, period, created_at, window_end, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    pub(crate) const PUT_SLOT: &str = "INSERT INTO number_slots (tenant, number, ext, phone_hash, binding) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    pub(crate) const LIVE_FOR_WAYBILL: &str =
        "SELECT id FROM number_bindings WHERE tenant = ? AND waybill_no = ? AND ended_at IS NULL";
    pub(crate) const EXPIRED: &str = "SELECT tenant, id FROM number_bindings WHERE ended_at IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?";
    pub(crate) const SLOT_OWNER: &str = "SELECT binding FROM number_slots WHERE tenant = ? AND number = ? AND ext = ? AND phone_hash = ?";
    pub(crate) const PUT_PHONE: &str = "INSERT INTO principal_phones (tenant, principal, phone_hash, sealed, period, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
        ON CONFLICT (tenant, principal) DO UPDATE SET phone_hash = excluded.phone_hash, sealed = excluded.sealed, period = excluded.period, updated_at = excluded.updated_at";
    pub(crate) const PHONE: &str = "SELECT phone_hash, sealed, period FROM principal_phones WHERE tenant = ? AND principal = ?";
    pub(crate) const BY_PHONE: &str = "SELECT principal FROM principal_phones WHERE tenant = ? AND phone_hash = ? ORDER BY principal LIMIT 1";
}
