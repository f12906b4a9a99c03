//! The vault service: seals shipments on the way in, keeps data keys
//! wrapped in the store and unwrapped only in memory, and carries out
//! searches, status changes, erasure, retention and key rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use parcel_keys::{KeyProvider, SecretKey};
use zeroize::Zeroizing;

use crate::crypto::{BlindIndexer, BlindKind, FieldCipher, TokenCipher, TokenClaims};
use crate::error::{FieldError, VaultError};
use crate::mask::MaskProfile;
use crate::model::{
    CleanParty, CleanShipment, Field, MaskedParty, MaskedView, NewShipment, Party, SLOTS,
    ShipmentPatch, ShipmentRecord, Status, normalize_id, normalize_name, normalize_phone, slot,
};
use crate::store::{
    AuditEvent, BlindEntry, InsertOutcome, SealedShipment, Store, StoreError, StoredUpdate,
    WrappedKey,
};

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        VaultError::Store(e.0)
    }
}

/// Settings of a [`Vault`].
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Masking profile (validated by [`Vault::new`]).
    pub mask: MaskProfile,
    /// Seconds after delivery or return that personal data is kept.
    pub retention_secs: i64,
}

/// A shipment just stored.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its record (masked view only).
    pub record: ShipmentRecord,
    /// Its QR token for the label.
    pub token: String,
}

/// How a person is identified for erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonKey {
    /// By phone number.
    Phone,
    /// By resident ID number.
    IdNumber,
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    /// Shipments touched.
    pub shipments: usize,
    /// Party records erased.
    pub parties: usize,
    /// Transparency-log details (keyed hashes of this person) deleted.
    pub log_details: u64,
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    /// Shipments whose ciphertexts were removed.
    pub purged: usize,
    /// Data keys destroyed (`tenant/period`).
    pub keys_destroyed: Vec<String>,
    /// Expired transparency-log details deleted.
    pub log_details: u64,
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    /// The new key-encryption key version.
    pub kek_version: u32,
    /// Data keys re-wrapped.
    pub rewrapped: usize,
}

/// The vault service.
#[derive(Debug)]
pub struct Vault {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    options: VaultOptions,
    tokens: TokenCipher,
    deks: Mutex<HashMap<(String, String), Arc<FieldCipher>>>,
    blind: Mutex<HashMap<String, Arc<BlindIndexer>>>,
    /// Per-tenant pseudonym MACs, keyed once from the key store.
    pseudo: Mutex<HashMap<String, hmac::Hmac<sha2::Sha256>>>,
    log: Option<Arc<parcel_tlog::Log>>,
    /// Reveal-quota leases held by this process.
    pub(crate) leases: crate::quota::Leases,
}

/// The data-key period (`YYYY-MM`, UTC) of a Unix time.
pub fn period_of(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

fn dek_aad(tenant: &str, period: &str) -> Vec<u8> {
    format!("parcelguard/dek/v1\0{tenant}\0{period}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Vault {
    /// A vault over `store` with keys from `keys`. Rejects a masking profile
    /// below the standard, and makes the first KEK if the provider has none.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyProvider>,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        options.mask.validate()?;
        if keys.kek_versions()?.is_empty() {
            keys.create_kek()?;
        }
        Ok(Self {
            tokens: TokenCipher::new(keys.as_ref())?,
            store,
            keys,
            options,
            deks: Mutex::new(HashMap::new()),
            blind: Mutex::new(HashMap::new()),
            pseudo: Mutex::new(HashMap::new()),
            log: None,
            leases: crate::quota::Leases::default(),
        })
    }

    /// Records audited actions in the transparency log from now on (instead
    /// of the store's `audit_events` table).
    #[must_use]
    pub fn with_log(mut self, log: Arc<parcel_tlog::Log>) -> Self {
        self.log = Some(log);
        self
    }

    /// The transparency log, if one is attached.
    pub fn log(&self) -> Option<&Arc<parcel_tlog::Log>> {
        self.log.as_ref()
    }

    /// Records an audited action: in the transparency log when one is
    /// attached (returning its index once durable), else in the store.
    fn audit(&self, e: AuditEvent) -> Result<Option<u64>, VaultError> {
        let Some(log) = &self.log else {
            self.store.audit(&e)?;
            return Ok(None);
        };
        let mut event =
            parcel_tlog::Event::new(e.at.saturating_mul(1000), &e.tenant, &e.actor, &e.action);
        let mut subject = None;
        if let Ok(serde_json::Value::Object(detail)) = serde_json::from_str(&e.detail) {
            for (k, v) in detail {
                match (k.as_str(), v) {
                    ("subject", serde_json::Value::String(s)) => subject = Some(s),
                    // Only these non-personal figures enter the permanent tree.
                    (
                        "kind" | "results" | "shipments" | "parties" | "purged" | "keys_destroyed"
                        | "kek_version" | "kek_versions" | "rewrapped",
                        v,
                    ) => event = event.with_detail(&k, v),
                    _ => {}
                }
            }
        }
        // The customer's keyed hash expires with retention and goes with an
        // erasure, so it stays outside the tree (the entry commits to it).
        let Some(subject) = subject else {
            return Ok(Some(log.append(&event)?));
        };
        let detail = parcel_tlog::log::ExpiringDetail {
            tenant: e.tenant.clone(),
            data: serde_json::json!({ "subject": subject })
                .to_string()
                .into_bytes(),
            subject: Some(subject),
            expires_at: e.at.saturating_add(self.options.retention_secs),
        };
        Ok(Some(log.append_with_detail(&event, detail)?))
    }

    /// A stable pseudonym for `id` (an employee, a customer reference)
    /// within `tenant`: `prefix-` and 8 hex digits of a keyed HMAC, so
    /// analysts can follow one person across alerts without learning who
    /// it is, and nobody without the key can reverse it.
    pub fn pseudonym(&self, tenant: &str, prefix: &str, id: &str) -> Result<String, VaultError> {
        use hmac::Mac as _;
        let cached = self
            .pseudo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        let mut mac = match cached {
            Some(mac) => mac,
            None => {
                let key = self.keys.derive(&format!("vault/pseudonym/v1/{tenant}"))?;
                let mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key.expose())
                    .map_err(|_| VaultError::Store("pseudonym key".to_owned()))?;
                self.pseudo
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(tenant.to_owned(), mac.clone());
                mac
            }
        };
        mac.update(prefix.as_bytes());
        mac.update(&[0]);
        mac.update(id.as_bytes());
        let full = mac.finalize().into_bytes();
        Ok(format!("{prefix}-{}", hex(&full[..4])))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The masking profile.
    pub fn mask_profile(&self) -> &MaskProfile {
        &self.options.mask
    }

    pub(crate) fn blind_indexer(&self, tenant: &str) -> Result<Arc<BlindIndexer>, VaultError> {
        let mut map = self.blind.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = map.get(tenant) {
            return Ok(b.clone());
        }
        let b = Arc::new(BlindIndexer::for_tenant(self.keys.as_ref(), tenant)?);
        map.insert(tenant.to_owned(), b.clone());
        Ok(b)
    }

    fn current_kek(&self) -> Result<u32, VaultError> {
        self.keys
            .kek_versions()?
            .last()
            .copied()
            .ok_or_else(|| VaultError::Store("no key-encryption key available".to_owned()))
    }

    /// The cipher for a tenant's period, creating its data key if `create`.
    pub(crate) fn cipher(
        &self,
        tenant: &str,
        period: &str,
        create: bool,
    ) -> Result<Arc<FieldCipher>, VaultError> {
        let cache_key = (tenant.to_owned(), period.to_owned());
        if let Some(c) = self
            .deks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cache_key)
        {
            return Ok(c.clone());
        }
        let aad = dek_aad(tenant, period);
        let mut stored = self.store.get_data_key(tenant, period)?;
        if stored.is_none() && create {
            let dek = SecretKey::generate();
            let version = self.current_kek()?;
            let wrapped = self.keys.wrap(version, &dek, &aad)?;
            self.store.put_data_key_if_absent(&WrappedKey {
                tenant: tenant.to_owned(),
                period: period.to_owned(),
                kek_version: version,
                wrapped: Some(wrapped),
                created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            })?;
            // Another process may have won the race; use whatever is stored.
            stored = self.store.get_data_key(tenant, period)?;
        }
        let stored = stored.ok_or_else(|| VaultError::Erased {
            what: format!("data key {tenant}/{period}"),
        })?;
        let wrapped = stored.wrapped.ok_or_else(|| VaultError::Erased {
            what: format!("data key {tenant}/{period}"),
        })?;
        let dek = self.keys.unwrap(stored.kek_version, &wrapped, &aad)?;
        let cipher = Arc::new(FieldCipher::new(&dek));
        self.deks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cache_key, cipher.clone());
        Ok(cipher)
    }

    fn masked_party(&self, p: &CleanParty) -> MaskedParty {
        let m = &self.options.mask;
        MaskedParty {
            name: m.name(&p.name),
            phone: m.phone(&p.phone),
            address: m.address(&p.address),
            id_number: p.id_number.as_ref().map(|id| m.id_number(id)),
            address_unparsed: p.address_unparsed,
            erased: false,
        }
    }

    /// Makes sure the data key for shipments created at `now` exists and is
    /// unwrapped in memory. Call before holding a write transaction open
    /// (as a streaming import does): creating the key needs a write of its own.
    pub fn prepare(&self, tenant: &str, now: i64) -> Result<(), VaultError> {
        self.cipher(tenant, &period_of(now), true).map(|_| ())
    }

    /// Encrypts, indexes and masks a validated shipment.
    pub fn seal(
        &self,
        tenant: &str,
        s: &CleanShipment,
        now: i64,
    ) -> Result<SealedShipment, VaultError> {
        let period = period_of(now);
        let cipher = self.cipher(tenant, &period, true)?;
        let blind = self.blind_indexer(tenant)?;
        let mut ciphertexts: [Option<Vec<u8>>; 7] = Default::default();
        for (i, &(party, field)) in SLOTS.iter().enumerate() {
            if let Some(plain) = s.party(party).field_plaintext(field) {
                ciphertexts[i] = Some(cipher.seal(tenant, &s.waybill_no, party, field, &plain)?);
            }
        }
        let mut entries = Vec::with_capacity(5);
        for party in Party::ALL {
            let p = s.party(party);
            entries.push(BlindEntry {
                hash: blind.index(BlindKind::Phone, &p.phone),
                party,
            });
            let name = Zeroizing::new(normalize_name(&p.name));
            entries.push(BlindEntry {
                hash: blind.index(BlindKind::Name, &name),
                party,
            });
            if let Some(id) = &p.id_number {
                entries.push(BlindEntry {
                    hash: blind.index(BlindKind::IdNumber, id),
                    party,
                });
            }
        }
        Ok(SealedShipment {
            tenant: tenant.to_owned(),
            waybill_no: s.waybill_no.clone(),
            carrier: s.carrier.clone(),
            origin_station: s.origin_station.clone(),
            destination_station: s.destination_station.clone(),
            courier: s.courier.clone(),
            window: s.window,
            period,
            created_at: now,
            masked: MaskedView {
                sender: self.masked_party(&s.sender),
                recipient: self.masked_party(&s.recipient),
            },
            ciphertexts,
            blind: entries,
        })
    }

    /// The QR token of a shipment.
    pub fn token_for(&self, tenant: &str, waybill: &str, now: i64) -> Result<String, VaultError> {
        self.tokens.issue(&TokenClaims {
            tenant: tenant.to_owned(),
            waybill_no: waybill.to_owned(),
            issued_at: now,
        })
    }

    /// Opens a QR token.
    pub fn open_token(&self, token: &str) -> Result<TokenClaims, VaultError> {
        self.tokens.open(token)
    }

    /// Validates and stores one shipment.
    pub fn create(
        &self,
        tenant: &str,
        input: &NewShipment,
        now: i64,
    ) -> Result<Created, VaultError> {
        let clean = input.validate("")?;
        let sealed = self.seal(tenant, &clean, now)?;
        let mut tx = self.store.begin()?;
        match tx.insert(std::slice::from_ref(&sealed))?.first() {
            Some(InsertOutcome::Inserted) => tx.commit()?,
            _ => return Err(VaultError::Conflict),
        }
        let record = self.get(tenant, &sealed.waybill_no)?;
        let token = self.token_for(tenant, &sealed.waybill_no, now)?;
        Ok(Created { record, token })
    }

    /// Validates and stores many shipments in one transaction. With
    /// `atomic`, any invalid or duplicate item stores nothing; otherwise each
    /// item succeeds or fails alone.
    pub fn create_batch(
        &self,
        tenant: &str,
        inputs: &[NewShipment],
        atomic: bool,
        now: i64,
    ) -> Result<Vec<Result<Created, VaultError>>, VaultError> {
        let mut results: Vec<Result<Created, VaultError>> = Vec::with_capacity(inputs.len());
        let mut sealed = Vec::with_capacity(inputs.len());
        let mut positions = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            match input
                .validate(&format!("shipments[{i}]."))
                .and_then(|c| self.seal(tenant, &c, now))
            {
                Ok(s) => {
                    positions.push(i);
                    sealed.push(s);
                    results.push(Err(VaultError::NotFound));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let any_invalid = results.len() != sealed.len();
        if atomic && any_invalid {
            return Ok(results
                .into_iter()
                .map(|r| match r {
                    Err(VaultError::NotFound) => Err(VaultError::Invalid(vec![FieldError {
                        field: "atomic".to_owned(),
                        reason: "not stored because another item failed".to_owned(),
                    }])),
                    other => other,
                })
                .collect());
        }
        let mut tx = self.store.begin()?;
        let outcomes = tx.insert(&sealed)?;
        let duplicates = outcomes.contains(&InsertOutcome::Duplicate);
        if atomic && duplicates {
            drop(tx);
        } else {
            tx.commit()?;
        }
        for ((pos, s), outcome) in positions.iter().zip(&sealed).zip(outcomes) {
            results[*pos] = match outcome {
                InsertOutcome::Duplicate => Err(VaultError::Conflict),
                InsertOutcome::Inserted if atomic && duplicates => {
                    Err(VaultError::Invalid(vec![FieldError {
                        field: "atomic".to_owned(),
                        reason: "not stored because another item failed".to_owned(),
                    }]))
                }
                InsertOutcome::Inserted => Ok(Created {
                    record: record_of(s),
                    token: self.token_for(tenant, &s.waybill_no, now)?,
                }),
            };
        }
        Ok(results)
    }

    /// A shipment's masked view and status.
    pub fn get(&self, tenant: &str, waybill: &str) -> Result<ShipmentRecord, VaultError> {
        self.store
            .get_shipment(tenant, waybill)?
            .ok_or(VaultError::NotFound)
    }

    /// Changes status, courier or window; status changes follow the lifecycle.
    pub fn update(
        &self,
        tenant: &str,
        waybill: &str,
        patch: &ShipmentPatch,
        now: i64,
    ) -> Result<ShipmentRecord, VaultError> {
        if let Some(c) = &patch.courier
            && (c.is_empty() || c.len() > 64)
        {
            return Err(VaultError::invalid("courier", "must be 1 to 64 characters"));
        }
        let window = patch
            .delivery_window
            .map(|w| (w.start.unix_timestamp(), w.end.unix_timestamp()));
        if let Some((s, e)) = window
            && e <= s
        {
            return Err(VaultError::invalid(
                "delivery_window",
                "end must be after start",
            ));
        }
        // Compare-and-set on the status, retried if another writer got there
        // first, so two servers cannot both apply conflicting transitions.
        for _ in 0..8 {
            let current = self.get(tenant, waybill)?;
            if let Some(next) = patch.status
                && !current.status.can_become(next)
            {
                return Err(VaultError::IllegalTransition {
                    from: current.status.to_string(),
                    to: next.to_string(),
                });
            }
            let update = StoredUpdate {
                status: patch.status,
                courier: patch.courier.clone(),
                window,
                at: now,
            };
            if self
                .store
                .update_shipment(tenant, waybill, current.status, &update)?
            {
                return self.get(tenant, waybill);
            }
        }
        Err(VaultError::Store(
            "the shipment kept changing; try again".to_owned(),
        ))
    }

    /// Decrypts one field. Only the reveal path (which checks policy and logs
    /// first), the number broker (which reseals the recipient's phone for
    /// a binding it has logged, without letting it out) and tests call this.
    pub fn decrypt_field(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        field: Field,
    ) -> Result<Zeroizing<String>, VaultError> {
        let index = slot(party, field)
            .ok_or_else(|| VaultError::invalid("field", "the recipient has no ID number"))?;
        let read = self.store.get_ciphertext(tenant, waybill, index)?;
        self.open_field(tenant, waybill, party, field, read)
    }

    /// Opens a ciphertext read by [`Store::get_ciphertext`] (or with a
    /// reveal's other reads) for `field` of `party` of `waybill`.
    pub(crate) fn open_field(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        field: Field,
        read: Option<crate::store::CiphertextRead>,
    ) -> Result<Zeroizing<String>, VaultError> {
        let what = format!("{}.{}", party.as_str(), field.as_str());
        let (period, blob) = read.ok_or(VaultError::NotFound)?;
        let blob = blob.ok_or_else(|| VaultError::Erased { what: what.clone() })?;
        let cipher = self.cipher(tenant, &period, false)?;
        let plain = cipher.open(tenant, waybill, party, field, &blob)?;
        let text =
            std::str::from_utf8(&plain).map_err(|_| VaultError::Tampered { what: what.clone() })?;
        if field == Field::Address {
            let address: crate::address::Address =
                serde_json::from_str(text).map_err(|_| VaultError::Tampered { what })?;
            return Ok(Zeroizing::new(address.one_line()));
        }
        Ok(Zeroizing::new(text.to_owned()))
    }

    fn blind_of(
        &self,
        tenant: &str,
        kind: BlindKind,
        value: &str,
    ) -> Result<[u8; crate::crypto::BLIND_LEN], VaultError> {
        let normalized = Zeroizing::new(match kind {
            BlindKind::Phone => {
                normalize_phone(value).map_err(|r| VaultError::invalid("phone", r))?
            }
            BlindKind::IdNumber => {
                normalize_id(value).map_err(|r| VaultError::invalid("id_number", r))?
            }
            BlindKind::Name => normalize_name(value),
        });
        Ok(self.blind_indexer(tenant)?.index(kind, &normalized))
    }

    /// Shipments where either party has this phone, ID number or name,
    /// found through blind indexes without decrypting anything. The search is
    /// recorded as an audit event (with the blind index, not the value).
    pub fn search(
        &self,
        tenant: &str,
        kind: BlindKind,
        value: &str,
        actor: &str,
        now: i64,
    ) -> Result<Vec<ShipmentRecord>, VaultError> {
        let hash = self.blind_of(tenant, kind, value)?;
        let hits = self.store.find_blind(tenant, &hash)?;
        self.audit(AuditEvent {
            at: now,
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            action: "search".to_owned(),
            detail: serde_json::json!({"kind": format!("{kind:?}").to_lowercase(), "subject": hex(&hash), "results": hits.len()}).to_string(),
        })?;
        let mut waybills: Vec<String> = hits.into_iter().map(|(w, _)| w).collect();
        waybills.sort();
        waybills.dedup();
        let mut out = Vec::with_capacity(waybills.len());
        for w in waybills {
            if let Some(r) = self.store.get_shipment(tenant, &w)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Erases one person (PIPL Art. 47): every party record with this phone
    /// or ID number loses its ciphertexts and blind indexes; masked views
    /// stay, marked erased. The erasure is audited.
    pub fn erase_person(
        &self,
        tenant: &str,
        key: PersonKey,
        value: &str,
        actor: &str,
        now: i64,
    ) -> Result<ErasureReport, VaultError> {
        let kind = match key {
            PersonKey::Phone => BlindKind::Phone,
            PersonKey::IdNumber => BlindKind::IdNumber,
        };
        let hash = self.blind_of(tenant, kind, value)?;
        let hits = self.store.find_blind(tenant, &hash)?;
        // Read first, record, then change: if the log cannot take the
        // record, nothing has been erased.
        let mut targets = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (waybill, party) in hits {
            if !seen.insert((waybill.clone(), party)) {
                continue;
            }
            if let Some(record) = self.store.get_shipment(tenant, &waybill)? {
                targets.push((record, party));
            }
        }
        let mut report = ErasureReport {
            parties: targets.len(),
            shipments: targets
                .iter()
                .map(|(r, _)| &r.waybill_no)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            log_details: 0,
        };
        let index = self.audit(AuditEvent {
            at: now,
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            action: "erase_person".to_owned(),
            detail: serde_json::json!({"kind": format!("{kind:?}").to_lowercase(), "subject": hex(&hash), "shipments": report.shipments, "parties": report.parties}).to_string(),
        })?;
        for (record, party) in targets {
            let mut masked = record.masked.clone();
            match party {
                Party::Sender => masked.sender.erased = true,
                Party::Recipient => masked.recipient.erased = true,
            }
            self.store
                .erase_party(tenant, &record.waybill_no, party, &masked)?;
        }
        if let (Some(log), Some(index)) = (&self.log, index) {
            // Earlier log entries about this person lose their link to them;
            // the erasure's own record keeps it until retention.
            report.log_details = log.erase_details(tenant, &hex(&hash), index)?;
        }
        tracing::info!(
            shipments = report.shipments,
            parties = report.parties,
            "person erased"
        );
        Ok(report)
    }

    /// Purges shipments past retention and destroys the data keys of closed
    /// periods that no longer protect anything.
    pub fn purge_expired(&self, actor: &str, now: i64) -> Result<RetentionReport, VaultError> {
        let cutoff = now - self.options.retention_secs;
        let mut report = RetentionReport::default();
        let mut by_tenant: HashMap<String, usize> = HashMap::new();
        loop {
            let batch = self.store.expired(cutoff, 1000)?;
            if batch.is_empty() {
                break;
            }
            for (tenant, waybill) in batch {
                self.store.purge(&tenant, &waybill, now)?;
                *by_tenant.entry(tenant).or_default() += 1;
                report.purged += 1;
            }
        }
        if let Some(log) = &self.log {
            report.log_details = log.expire_details(now)?;
        }
        let current = period_of(now);
        for (tenant, period) in self.store.shreddable_periods(&current)? {
            self.store.destroy_data_key(&tenant, &period)?;
            self.deks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(tenant.clone(), period.clone()));
            report.keys_destroyed.push(format!("{tenant}/{period}"));
            *by_tenant.entry(tenant).or_default() += 0;
        }
        for (tenant, purged) in by_tenant {
            self.audit(AuditEvent {
                at: now,
                tenant: tenant.clone(),
                actor: actor.to_owned(),
                action: "retention_purge".to_owned(),
                detail: serde_json::json!({
                    "purged": purged,
                    "keys_destroyed": report.keys_destroyed.iter().filter(|k| k.starts_with(&format!("{tenant}/"))).collect::<Vec<_>>(),
                })
                .to_string(),
            })?;
        }
        if report.purged > 0 || !report.keys_destroyed.is_empty() {
            tracing::info!(
                purged = report.purged,
                keys_destroyed = report.keys_destroyed.len(),
                "retention run"
            );
        }
        Ok(report)
    }

    /// Makes a new key-encryption key and re-wraps every live data key with
    /// it, one compare-and-set at a time, so serving never stops.
    pub fn rotate(&self, actor: &str, now: i64) -> Result<RotationReport, VaultError> {
        let version = self.keys.create_kek()?;
        let rewrapped = self.rewrap_all(version)?;
        self.audit(AuditEvent {
            at: now,
            tenant: String::new(),
            actor: actor.to_owned(),
            action: "key_rotate".to_owned(),
            detail: serde_json::json!({"kek_version": version, "rewrapped": rewrapped}).to_string(),
        })?;
        tracing::info!(
            kek_version = version,
            rewrapped,
            "key-encryption key rotated"
        );
        Ok(RotationReport {
            kek_version: version,
            rewrapped,
        })
    }

    /// Re-wraps every live data key not yet under `version`.
    pub fn rewrap_all(&self, version: u32) -> Result<usize, VaultError> {
        let mut count = 0;
        for key in self.store.data_keys()? {
            let Some(wrapped) = &key.wrapped else {
                continue;
            };
            if key.kek_version == version {
                continue;
            }
            let aad = dek_aad(&key.tenant, &key.period);
            let dek = self.keys.unwrap(key.kek_version, wrapped, &aad)?;
            let new = WrappedKey {
                wrapped: Some(self.keys.wrap(version, &dek, &aad)?),
                kek_version: version,
                ..key.clone()
            };
            if self.store.rewrap_data_key(&new, key.kek_version)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Destroys key-encryption keys that no live data key uses any more,
    /// except the newest. Returns the versions destroyed.
    pub fn retire_keks(&self, actor: &str, now: i64) -> Result<Vec<u32>, VaultError> {
        let versions = self.keys.kek_versions()?;
        let Some(&newest) = versions.last() else {
            return Ok(Vec::new());
        };
        let in_use: std::collections::HashSet<u32> = self
            .store
            .data_keys()?
            .into_iter()
            .filter(|k| k.wrapped.is_some())
            .map(|k| k.kek_version)
            .collect();
        let mut retired = Vec::new();
        for v in versions {
            if v != newest && !in_use.contains(&v) {
                self.keys.destroy_kek(v)?;
                retired.push(v);
            }
        }
        if !retired.is_empty() {
            self.audit(AuditEvent {
                at: now,
                tenant: String::new(),
                actor: actor.to_owned(),
                action: "key_retire".to_owned(),
                detail: serde_json::json!({"kek_versions": retired}).to_string(),
            })?;
        }
        Ok(retired)
    }
}

/// The record of a shipment just inserted, without another read.
fn record_of(s: &SealedShipment) -> ShipmentRecord {
    let mut status_times = [None; 6];
    status_times[0] = Some(s.created_at);
    ShipmentRecord {
        tenant: s.tenant.clone(),
        waybill_no: s.waybill_no.clone(),
        carrier: s.carrier.clone(),
        status: Status::Created,
        origin_station: s.origin_station.clone(),
        destination_station: s.destination_station.clone(),
        courier: s.courier.clone(),
        window: s.window,
        period: s.period.clone(),
        status_times,
        updated_at: s.created_at,
        masked: s.masked.clone(),
        purged_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_months() {
        assert_eq!(period_of(0), "1970-01");
        assert_eq!(period_of(1_795_000_000), "2026-11");
    }
}
