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
    /// Creates a tenant unless it exists.
    fn put_tenant(&self, id: &str, name: &str, at: i64) -> Result<(), StoreError>;
    /// Creates or replaces a principal.
    fn put_principal(&self, principal: &Principal) -> Result<(), StoreError>;
    /// Stores a new API key.
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Finds an API key by the hash of its secret, with its principal.
    fn find_api_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, Principal)>, StoreError>;
}
