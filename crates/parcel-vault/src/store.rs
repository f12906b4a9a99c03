//! The storage boundary: what the vault asks of a database. Implemented for
//! SQLite and PostgreSQL by `parcel-store`; the vault itself never sees SQL.
//! Rows hold only ciphertexts, blind indexes, masked views and wrapped keys.

use std::fmt;

use crate::crypto::BLIND_LEN;
use crate::model::{MaskedView, Party, ShipmentRecord, Status};

/// A ciphertext read: the shipment's period and the slot's bytes (`None`
/// when the field is empty or erased).
pub type CiphertextRead = (String, Option<Vec<u8>>);

/// A storage failure. The text comes from the database driver and holds
/// table or constraint names, never field values (those are ciphertexts).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// A store result that may still be on its way: a write queued to a
/// writer thread that commits many callers' writes at once. `.await` it on
/// an async runtime (the caller's task is woken; no thread waits), or
/// [`Deferred::wait`] for it on a thread.
#[must_use = "the write's outcome is known only when this resolves"]
#[derive(Debug)]
pub struct Deferred<T>(DeferredState<T>);

#[derive(Debug)]
enum DeferredState<T> {
    Ready(Option<Result<T, StoreError>>),
    Queued(futures_channel::oneshot::Receiver<Result<T, StoreError>>),
}

/// The writer's half of a [`Deferred`].
#[derive(Debug)]
pub struct Resolver<T>(futures_channel::oneshot::Sender<Result<T, StoreError>>);

impl<T> Resolver<T> {
    /// Hands the outcome to the waiting caller (if it still waits).
    pub fn resolve(self, outcome: Result<T, StoreError>) {
        // A caller that stopped waiting has nothing to be told.
        let _ = self.0.send(outcome);
    }
}

impl<T> Deferred<T> {
    /// An outcome already known.
    pub fn ready(outcome: Result<T, StoreError>) -> Self {
        Self(DeferredState::Ready(Some(outcome)))
    }

    /// An outcome to come, with the half that delivers it.
    pub fn queued() -> (Resolver<T>, Self) {
        let (tx, rx) = futures_channel::oneshot::channel();
        (Resolver(tx), Self(DeferredState::Queued(rx)))
    }

    /// Blocks this thread until the outcome is known.
    pub fn wait(self) -> Result<T, StoreError> {
        pollster::block_on(self)
    }
}

// Neither state is self-referential: `T` sits in an `Option` or behind
// the channel's pointer, never pinned in place.
impl<T> Unpin for Deferred<T> {}

impl<T> std::future::Future for Deferred<T> {
    type Output = Result<T, StoreError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        match &mut self.get_mut().0 {
            DeferredState::Ready(r) => Poll::Ready(
                r.take()
                    .unwrap_or_else(|| Err(StoreError("store: outcome taken twice".to_owned()))),
            ),
            DeferredState::Queued(rx) => std::pin::Pin::new(rx).poll(cx).map(|r| {
                r.unwrap_or_else(|_| {
                    Err(StoreError(
                        "store: writer stopped before answering".to_owned(),
                    ))
                })
            }),
        }
    }
}

/// A shipment ready to store: every personal field already encrypted.
#[derive(Clone)]
pub struct SealedShipment {
    /// Tenant.
    pub tenant: String,
    /// Waybill number.
    pub waybill_no: String,
    /// Carrier code.
    pub carrier: String,
    /// Origin station.
    pub origin_station: Option<String>,
    /// Destination station.
    pub destination_station: Option<String>,
    /// Assigned courier.
    pub courier: Option<String>,
    /// Delivery window (Unix seconds).
    pub window: Option<(i64, i64)>,
    /// Data-key period (`YYYY-MM`).
    pub period: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Masked view.
    pub masked: MaskedView,
    /// Ciphertexts in [`crate::model::SLOTS`] order.
    pub ciphertexts: [Option<Vec<u8>>; 7],
    /// Blind indexes.
    pub blind: Vec<BlindEntry>,
}

impl fmt::Debug for SealedShipment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedShipment")
            .field("tenant", &self.tenant)
            .field("waybill_no", &self.waybill_no)
            .finish_non_exhaustive()
    }
}

/// One blind-index row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlindEntry {
    /// Truncated HMAC.
    pub hash: [u8; BLIND_LEN],
    /// Whose value it indexes.
    pub party: Party,
}

/// A data key as stored: wrapped by a key-encryption key, or destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Tenant.
    pub tenant: String,
    /// Period (`YYYY-MM`).
    pub period: String,
    /// KEK version that wrapped it.
    pub kek_version: u32,
    /// The wrapped key; `None` once destroyed.
    pub wrapped: Option<Vec<u8>>,
    /// Creation time.
    pub created_at: i64,
}

/// Result of inserting one shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored.
    Inserted,
    /// The waybill already exists for the tenant; nothing was written.
    Duplicate,
}

/// The parts of a shipment an update may change. `status_time` is recorded
/// for the new status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpdate {
    /// New status, if it changes.
    pub status: Option<Status>,
    /// New courier.
    pub courier: Option<String>,
    /// New window.
    pub window: Option<(i64, i64)>,
    /// Time of the change.
    pub at: i64,
}

/// An audit record (the transparency log takes these over later). Holds no
/// personal data: subjects appear only as blind-index hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: i64,
    /// Tenant.
    pub tenant: String,
    /// Who (principal id).
    pub actor: String,
    /// What (`search`, `erase_person`, `retention_purge`, `key_rotate`, …).
    pub action: String,
    /// JSON details.
    pub detail: String,
}

/// Someone or something that calls the API: an employee or a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant.
    pub tenant: String,
    /// Employee or service id (`E1001`, `order-system`).
    pub id: String,
    /// Role (`courier`, `station_manager`, `customer_service`,
    /// `security_auditor`, `admin`, `service`).
    pub role: String,
    /// Station, for station-bound roles.
    pub station: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// Creation time.
    pub created_at: i64,
}

/// An API key as stored: only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public key id (shown in listings).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Principal id.
    pub principal: String,
    /// SHA-256 of the secret.
    pub hash: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// One reveal-quota window: at most `limit` reveals by a principal in the
/// window of `secs` seconds starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    /// Window length (3600, 86400).
    pub secs: i64,
    /// Window start (Unix seconds, a multiple of `secs`).
    pub start: i64,
    /// Reveals allowed in the window.
    pub limit: i64,
}

/// A customer-service or legal ticket about one shipment, registered by
/// the ticketing system (or an admin) so that reveals can cite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Tenant.
    pub tenant: String,
    /// Ticket id in the ticketing system.
    pub id: String,
    /// The shipment it is about.
    pub waybill_no: String,
    /// Who registered it.
    pub opened_by: String,
    /// When.
    pub opened_at: i64,
    /// When it was closed (no more reveals under it).
    pub closed_at: Option<i64>,
}

/// A break-glass request: an admin's reveal outside policy, which a second
/// admin must approve before it can be used, once.
#[derive(Clone, PartialEq, Eq)]
pub struct BreakGlass {
    /// Request id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The admin who asked.
    pub requester: String,
    /// Shipment.
    pub waybill_no: String,
    /// `sender` or `recipient`.
    pub party: String,
    /// Field.
    pub field: String,
    /// The written justification (free text; kept in the store only).
    pub justification: String,
    /// When it was asked.
    pub created_at: i64,
    /// The approving admin.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at: Option<i64>,
    /// When its one reveal happened.
    pub used_at: Option<i64>,
}

impl fmt::Debug for BreakGlass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The justification may name people: never in debug output.
        f.debug_struct("BreakGlass")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("requester", &self.requester)
            .field("waybill_no", &self.waybill_no)
            .field("approved_by", &self.approved_by)
            .finish_non_exhaustive()
    }
}

/// An insider-risk alert as stored, with the analyst's handling of it.
#[derive(Clone, PartialEq)]
pub struct AlertRecord {
    /// Tenant.
    pub tenant: String,
    /// Alert id.
    pub id: String,
    /// The employee or service account raised (an id, not a customer).
    pub actor: String,
    /// When it was raised, Unix milliseconds.
    pub raised_at_ms: i64,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Score in thousandths (for ranking).
    pub score_milli: i64,
    /// The alert itself as JSON (reasons, signals, evidence, times).
    pub body: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// The resolving verdict: `malicious`, `benign` or `inconclusive`.
    pub verdict: Option<String>,
    /// The analyst who last acted on it.
    pub analyst: Option<String>,
    /// The analyst's note (free text; kept in the store only).
    pub note: Option<String>,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

impl fmt::Debug for AlertRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The note may name people: never in debug output.
        f.debug_struct("AlertRecord")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("actor", &self.actor)
            .field("severity", &self.severity)
            .field("status", &self.status)
            .field("verdict", &self.verdict)
            .finish_non_exhaustive()
    }
}

/// A change of an alert's handling.
#[derive(Debug, Clone, Copy)]
pub struct AlertUpdate<'a> {
    /// Statuses the alert may be in for the change to apply.
    pub from: &'a [&'a str],
    /// The new status.
    pub status: &'a str,
    /// The verdict (when resolving).
    pub verdict: Option<&'a str>,
    /// Who.
    pub analyst: &'a str,
    /// Note.
    pub note: Option<&'a str>,
    /// When, Unix seconds.
    pub at: i64,
}

/// What one reveal reads before it decides: the principal as stored now,
/// the shipment, the ciphertext asked for, and any insider-risk
/// restriction in force. [`Store::reveal_reads`] reads them together.
#[derive(Debug, Clone, Default)]
pub struct RevealReads {
    /// The principal (`None`: no longer exists).
    pub principal: Option<Principal>,
    /// The shipment, without ciphertexts.
    pub shipment: Option<ShipmentRecord>,
    /// The ciphertext of the slot asked for, as
    /// [`Store::get_ciphertext`] returns it.
    pub ciphertext: Option<CiphertextRead>,
    /// The alert id of an approval hold in force, as
    /// [`Store::approval_hold`] returns it.
    pub approval_hold: Option<String>,
    /// A quota override in force.
    pub quota_override: Option<QuotaOverride>,
}

/// What a privacy-number bind reads before it binds: the shipment, its
/// live binding, the ciphertext of the recipient's phone, and its
/// courier's contact phone. [`Store::bind_reads`] reads them together.
#[derive(Debug, Clone, Default)]
pub struct BindReads {
    /// The shipment, without ciphertexts (`None`: no such shipment, and
    /// nothing else is read).
    pub shipment: Option<ShipmentRecord>,
    /// The shipment's live binding, as [`Store::live_binding`] returns it.
    pub live: Option<parcel_numbers::Binding>,
    /// The ciphertext of the slot asked for, as
    /// [`Store::get_ciphertext`] returns it.
    pub ciphertext: Option<CiphertextRead>,
    /// The contact phone of the shipment's courier (`None` without a
    /// courier, or when the courier has none).
    pub courier_phone: Option<PrincipalPhone>,
}

/// A temporary reveal quota below the role's, set by an insider-risk
/// response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaOverride {
    /// Tenant.
    pub tenant: String,
    /// Principal.
    pub principal: String,
    /// Reveals per hour.
    pub per_hour: i64,
    /// Reveals per day.
    pub per_day: i64,
    /// Until when, Unix seconds.
    pub until: i64,
    /// Why (an alert id).
    pub reason: String,
}

/// What [`Store::bind_number`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    /// The binding is stored (and its slots taken); the ids of expired
    /// bindings that were in its way and were ended.
    Bound(Vec<String>),
    /// One of its slots is held by a live binding: try another number or
    /// extension.
    SlotTaken,
    /// The shipment already has a live binding (its id).
    AlreadyBound(String),
}

/// An employee's contact phone, sealed, with its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPhone {
    /// Keyed hash of the normalised phone (the tenant's blind index).
    pub hash: Vec<u8>,
    /// The phone, sealed under the period's data key.
    pub sealed: Vec<u8>,
    /// The data-key period.
    pub period: String,
}

/// A change to bindings another process made, as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Binding `(tenant, id)` was created or ended: re-read it.
    Changed(String, String),
    /// Notifications may have been missed (the listener reconnected):
    /// reload every live binding.
    Resync,
}

/// Receives [`BindingChange`]s from [`Store::watch_bindings`].
pub type BindingSink = Box<dyn Fn(BindingChange) + Send + Sync>;

/// A batch of inserts in one transaction. Dropping it without
/// [`StoreTx::commit`] rolls everything back.
pub trait StoreTx {
    /// Inserts shipments; a duplicate waybill is reported, not written.
    fn insert(&mut self, rows: &[SealedShipment]) -> Result<Vec<InsertOutcome>, StoreError>;
    /// Commits durably.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A database holding the vault.
pub trait Store: Send + Sync + fmt::Debug {
    /// Which backend (`sqlite`, `postgres`), for logs.
    fn backend(&self) -> &'static str;
    /// Starts a batch transaction.
    fn begin(&self) -> Result<Box<dyn StoreTx + '_>, StoreError>;
    /// Everything a reveal of `slot` of `waybill` by `principal` reads
    /// before it decides. Stores that can read it in one snapshot (one
    /// connection, one read transaction) override this; the default makes
    /// the five reads one by one.
    fn reveal_reads(
        &self,
        tenant: &str,
        principal: &str,
        waybill: &str,
        slot: usize,
        now: i64,
    ) -> Result<RevealReads, StoreError> {
        Ok(RevealReads {
            principal: self.get_principal(tenant, principal)?,
            shipment: self.get_shipment(tenant, waybill)?,
            ciphertext: self.get_ciphertext(tenant, waybill, slot)?,
            approval_hold: self.approval_hold(tenant, principal, now)?,
            quota_override: self.quota_override(tenant, principal, now)?,
        })
    }
    /// Everything a privacy-number bind of `waybill` reads, with `slot`
    /// the recipient phone's ciphertext slot. Stores that can read it in
    /// one snapshot override this; the default makes the reads one by one.
    fn bind_reads(
        &self,
        tenant: &str,
        waybill: &str,
        slot: usize,
    ) -> Result<BindReads, StoreError> {
        let Some(shipment) = self.get_shipment(tenant, waybill)? else {
            return Ok(BindReads::default());
        };
        let courier_phone = match &shipment.courier {
            Some(courier) => self.principal_phone(tenant, courier)?,
            None => None,
        };
        Ok(BindReads {
            live: self.live_binding(tenant, waybill)?,
            ciphertext: self.get_ciphertext(tenant, waybill, slot)?,
            courier_phone,
            shipment: Some(shipment),
        })
    }
    /// Reads a shipment (without ciphertexts).
    fn get_shipment(
        &self,
        tenant: &str,
        waybill: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError>;
    /// Reads one ciphertext and the shipment's period. `Ok(None)`: no such
    /// shipment; `Some((period, None))`: the field is empty or erased.
    fn get_ciphertext(
        &self,
        tenant: &str,
        waybill: &str,
        slot: usize,
    ) -> Result<Option<CiphertextRead>, StoreError>;
    /// Applies `update` if the shipment's status is still `expected`
    /// (compare-and-set); returns whether it did.
    fn update_shipment(
        &self,
        tenant: &str,
        waybill: &str,
        expected: Status,
        update: &StoredUpdate,
    ) -> Result<bool, StoreError>;
    /// Shipments and parties with this blind index.
    fn find_blind(
        &self,
        tenant: &str,
        hash: &[u8; BLIND_LEN],
    ) -> Result<Vec<(String, Party)>, StoreError>;
    /// Reads a data key.
    fn get_data_key(&self, tenant: &str, period: &str) -> Result<Option<WrappedKey>, StoreError>;
    /// Stores a data key unless one exists for its tenant and period.
    fn put_data_key_if_absent(&self, key: &WrappedKey) -> Result<(), StoreError>;
    /// Every data key (wrapped or destroyed).
    fn data_keys(&self) -> Result<Vec<WrappedKey>, StoreError>;
    /// Replaces a key's wrapping if it is still wrapped by `old_version`.
    fn rewrap_data_key(&self, key: &WrappedKey, old_version: u32) -> Result<bool, StoreError>;
    /// Destroys a data key (its wrapped bytes are overwritten and removed).
    fn destroy_data_key(&self, tenant: &str, period: &str) -> Result<(), StoreError>;
    /// Removes one party's ciphertexts and blind indexes, and stores the
    /// masked view marked as erased. Durable when it returns.
    fn erase_party(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        masked: &MaskedView,
    ) -> Result<(), StoreError>;
    /// Up to `limit` shipments that reached a terminal status before `cutoff`
    /// and are not yet purged.
    fn expired(&self, cutoff: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError>;
    /// Removes every ciphertext and blind index of a shipment.
    fn purge(&self, tenant: &str, waybill: &str, at: i64) -> Result<(), StoreError>;
    /// `(tenant, period)` of live data keys older than `before` whose
    /// shipments are all purged.
    fn shreddable_periods(&self, before: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Appends an audit event.
    fn audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Audit events of a tenant, oldest first.
    fn audit_events(&self, tenant: &str) -> Result<Vec<AuditEvent>, StoreError>;
    /// Number of shipments of a tenant.
    fn count_shipments(&self, tenant: &str) -> Result<u64, StoreError>;
    /// Up to `limit` shipments in waybill order, after the waybill `after`
    /// (keyset pagination), optionally only those with `status`.
    fn list_shipments(
        &self,
        tenant: &str,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ShipmentRecord>, StoreError>;
    /// How many shipments the tenant holds in each status (statuses with
    /// none are left out).
    fn shipment_counts(&self, tenant: &str) -> Result<Vec<(Status, u64)>, StoreError>;
    /// Creates a tenant unless it exists.
    fn put_tenant(&self, id: &str, name: &str, at: i64) -> Result<(), StoreError>;
    /// Creates or replaces a principal.
    fn put_principal(&self, principal: &Principal) -> Result<(), StoreError>;
    /// Stores a new API key.
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Finds an API key by the hash of its secret, with its principal.
    fn find_api_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, Principal)>, StoreError>;
    /// One principal.
    fn get_principal(&self, tenant: &str, id: &str) -> Result<Option<Principal>, StoreError>;
    /// Every principal of a tenant, by id.
    fn list_principals(&self, tenant: &str) -> Result<Vec<Principal>, StoreError>;
    /// Every API key of a tenant (hashes only), oldest first.
    fn list_api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes a key; returns whether it existed and was live.
    fn revoke_api_key(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError>;
    /// Counts one reveal against every window, atomically: either each
    /// window had room and is incremented, or nothing changes and the index
    /// of the first full window is returned. Safe with several processes
    /// on one database. Counters may lose the last increments in a power
    /// failure (they commit without waiting for the disk).
    fn take_quota(
        &self,
        tenant: &str,
        principal: &str,
        windows: &[QuotaWindow],
    ) -> Result<Option<usize>, StoreError>;
    /// Takes up to `want` reveals at once against every window, for a
    /// process that hands them out itself ([`crate::reveal`]'s quota
    /// lease): `Ok(n)` with `1 <= n <= want` taken from every window, or
    /// `Err(i)` when window `i` is full (nothing taken). Stores take at
    /// most a quarter of the smallest window's room (at least one), so a
    /// lease lost with its process costs the principal little. Stores
    /// whose counts go through a writer thread queue it and return at
    /// once; the default takes one, with [`Store::take_quota`].
    fn take_quota_lease(
        &self,
        tenant: &str,
        principal: &str,
        windows: &[QuotaWindow],
        want: i64,
    ) -> Deferred<Result<i64, usize>> {
        let _ = want;
        Deferred::ready(
            self.take_quota(tenant, principal, windows)
                .map(|full| full.map_or(Ok(1), Err)),
        )
    }
    /// Whether this store's reads are quick calls into an embedded
    /// database that an async runtime's worker may make itself. `false`
    /// (the default) for network databases behind a blocking client, whose
    /// calls must run on a blocking thread.
    fn reads_inline(&self) -> bool {
        false
    }
    /// Deletes quota windows that started before `before`.
    fn prune_quota(&self, before: i64) -> Result<u64, StoreError>;
    /// Registers a ticket; a ticket id already used is a duplicate.
    fn put_ticket(&self, ticket: &Ticket) -> Result<InsertOutcome, StoreError>;
    /// One ticket.
    fn get_ticket(&self, tenant: &str, id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Stores a new break-glass request.
    fn put_break_glass(&self, request: &BreakGlass) -> Result<(), StoreError>;
    /// One break-glass request.
    fn get_break_glass(&self, tenant: &str, id: &str) -> Result<Option<BreakGlass>, StoreError>;
    /// Approves a request if it is unapproved, was made at or after
    /// `not_before`, and `approver` is not its requester.
    fn approve_break_glass(
        &self,
        tenant: &str,
        id: &str,
        approver: &str,
        at: i64,
        not_before: i64,
    ) -> Result<bool, StoreError>;
    /// Marks an approved request used, once; returns whether this call did.
    fn use_break_glass(&self, tenant: &str, id: &str, at: i64) -> Result<bool, StoreError>;
    /// Stores a new alert.
    fn put_alert(&self, alert: &AlertRecord) -> Result<(), StoreError>;
    /// One alert.
    fn get_alert(&self, tenant: &str, id: &str) -> Result<Option<AlertRecord>, StoreError>;
    /// Up to `limit` alerts of a tenant (in `status` when given), newest
    /// first.
    fn list_alerts(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError>;
    /// Applies `update` if the alert is in one of `update.from`
    /// (compare-and-set); returns whether it did.
    fn update_alert(
        &self,
        tenant: &str,
        id: &str,
        update: &AlertUpdate<'_>,
    ) -> Result<bool, StoreError>;
    /// Suppresses `signal` for `actor` until `until` (Unix ms), replacing
    /// an earlier suppression of the same pair.
    fn put_suppression(
        &self,
        tenant: &str,
        actor: &str,
        signal: &str,
        until: i64,
    ) -> Result<(), StoreError>;
    /// `(actor, signal, until ms)` of suppressions still in force at `now_ms`.
    fn suppressions(
        &self,
        tenant: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// Sets (or replaces) a principal's temporary quota.
    fn put_quota_override(&self, o: &QuotaOverride) -> Result<(), StoreError>;
    /// The principal's temporary quota in force at `now`, if any.
    fn quota_override(
        &self,
        tenant: &str,
        principal: &str,
        now: i64,
    ) -> Result<Option<QuotaOverride>, StoreError>;
    /// Until `until` (Unix seconds), each reveal by `principal` needs a
    /// second person's approval; `reason` is the alert id. Replaces an
    /// earlier hold.
    fn put_approval_hold(
        &self,
        tenant: &str,
        principal: &str,
        until: i64,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// The reason (alert id) of the principal's hold in force at `now`.
    fn approval_hold(
        &self,
        tenant: &str,
        principal: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Removes the quota override and approval hold that alert `reason`
    /// set on `principal`; returns how many there were.
    fn lift_restrictions(
        &self,
        tenant: &str,
        principal: &str,
        reason: &str,
    ) -> Result<u64, StoreError>;

    /// Adds virtual numbers to a tenant's pool for `city`; numbers already
    /// in the pool are left as they are. Returns how many were added.
    fn put_pool_numbers(
        &self,
        tenant: &str,
        city: &str,
        numbers: &[String],
        at: i64,
    ) -> Result<usize, StoreError>;
    /// Every pool number: `(tenant, city, number)`.
    fn pool_numbers(&self) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Stores a binding and takes its slots (A's and B's phone on its
    /// number and extension, plus the extension itself when it has one),
    /// all or nothing. Live bindings past their grace period that hold a
    /// wanted slot, or the same shipment, are ended (`expired`) first in
    /// the same transaction. Safe with several processes on one database.
    fn bind_number(
        &self,
        binding: &parcel_numbers::Binding,
        now: i64,
    ) -> Result<BindOutcome, StoreError>;
    /// [`Store::bind_number`] for async callers: stores whose writes go
    /// through a writer thread queue it and return at once; the default
    /// binds before returning.
    fn bind_number_deferred(
        &self,
        binding: &parcel_numbers::Binding,
        now: i64,
    ) -> Deferred<BindOutcome> {
        Deferred::ready(self.bind_number(binding, now))
    }
    /// Ends a live binding and frees its slots; returns whether this call
    /// ended it.
    fn end_binding(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError>;
    /// [`Store::end_binding`] for async callers, as
    /// [`Store::bind_number_deferred`] is for binds.
    fn end_binding_deferred(
        &self,
        tenant: &str,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Deferred<bool> {
        Deferred::ready(self.end_binding(tenant, id, at, reason))
    }
    /// The shipment's live binding.
    fn live_binding(
        &self,
        tenant: &str,
        waybill: &str,
    ) -> Result<Option<parcel_numbers::Binding>, StoreError>;
    /// A binding by id, if it is live.
    fn get_binding(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<parcel_numbers::Binding>, StoreError>;
    /// The live binding holding slot `(number, ext, phone hash)`.
    fn binding_by_slot(
        &self,
        tenant: &str,
        number: &str,
        ext: u16,
        phone_hash: &[u8],
    ) -> Result<Option<parcel_numbers::Binding>, StoreError>;
    /// Every live binding.
    fn live_bindings(&self) -> Result<Vec<parcel_numbers::Binding>, StoreError>;
    /// Up to `limit` `(tenant, id)` of live bindings whose grace period
    /// ended at or before `now`.
    fn expired_bindings(&self, now: i64, limit: usize)
    -> Result<Vec<(String, String)>, StoreError>;
    /// Calls `sink` with other processes' binding changes from a thread of
    /// its own, for as long as the store lives; `false` when the backend
    /// serves one process only and has nothing to watch (SQLite).
    fn watch_bindings(&self, sink: BindingSink) -> Result<bool, StoreError>;
    /// Sets an employee's contact phone.
    fn put_principal_phone(
        &self,
        tenant: &str,
        principal: &str,
        phone: &PrincipalPhone,
        at: i64,
    ) -> Result<(), StoreError>;
    /// An employee's contact phone.
    fn principal_phone(
        &self,
        tenant: &str,
        principal: &str,
    ) -> Result<Option<PrincipalPhone>, StoreError>;
    /// The employee whose contact phone has this keyed hash.
    fn principal_by_phone(&self, tenant: &str, hash: &[u8]) -> Result<Option<String>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_outcome_arrives_from_another_thread() {
        let (resolver, outcome) = Deferred::<i64>::queued();
        let t = std::thread::spawn(move || resolver.resolve(Ok(7)));
        assert_eq!(outcome.wait().unwrap(), 7);
        t.join().unwrap();
        assert_eq!(Deferred::ready(Ok(3)).wait().unwrap(), 3);
        assert_eq!(pollster::block_on(Deferred::ready(Ok(4))).unwrap(), 4);
    }

    #[test]
    fn a_writer_that_drops_the_resolver_is_an_error_not_a_hang() {
        let (resolver, outcome) = Deferred::<i64>::queued();
        drop(resolver);
        let e = outcome.wait().unwrap_err();
        assert!(e.0.contains("writer stopped"), "{e}");
    }
}
