//! Privacy numbers (AXB): the vault's side of binding a virtual number X to
//! a courier's phone (A) and a recipient's phone (B).
//!
//! The [`Broker`] chooses X from the tenant's pool for the recipient's
//! city, seals both phones for the binding (so the router can hand the
//! switch the number to connect without touching the shipment), stores
//! the binding through [`Store::bind_number`] (the database refuses a
//! phone twice on one X, and a second live binding for a shipment), and
//! keeps this process's [`Router`] in step, with other processes' changes
//! arriving through [`Store::watch_bindings`].
//!
//! Every bind, unbind and expiry is in the transparency log; a bind's
//! entry is durable before the binding is stored, so no number is ever
//! routable without its record. Route answers go to the telephony switch
//! (a service account on the call path) and are not logged one by one:
//! the switch posts call records back, and those are.

use std::sync::{Arc, Weak};

use parcel_numbers::{Binding, PhoneHash, Refusal, Router, Side};
use rand::Rng as _;
use zeroize::Zeroizing;

use crate::crypto::BlindKind;
use crate::error::VaultError;
use crate::model::{Field, Party, Status, normalize_phone};
use crate::store::{AuditEvent, BindOutcome, BindingChange, PrincipalPhone, Store};
use crate::vault::{Vault, period_of};

/// Settings of the number broker.
#[derive(Debug, Clone)]
pub struct NumberOptions {
    /// Seconds after the delivery window during which the recipient can
    /// still call the courier back.
    pub grace_secs: i64,
    /// Delivery window assumed for a shipment that has none.
    pub default_window_secs: i64,
    /// Whether to fall back to X plus a 4-digit extension when no pool
    /// number is free for the pair.
    pub extensions: bool,
}

impl Default for NumberOptions {
    fn default() -> Self {
        Self {
            grace_secs: 2 * 3600,
            default_window_secs: 8 * 3600,
            extensions: true,
        }
    }
}

/// What a bind did.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The binding.
    pub binding: Arc<Binding>,
    /// Whether the shipment already had it (nothing new was stored).
    pub existing: bool,
    /// Log index of the bind's entry (`None` for an existing binding, or
    /// without a log).
    pub log_index: Option<u64>,
}

/// A call the switch may connect.
pub struct RouteAnswer {
    /// The number to connect to (zeroized when dropped).
    pub connect_to: Zeroizing<String>,
    /// The binding.
    pub binding: Arc<Binding>,
    /// Who is calling.
    pub caller: Side,
}

impl std::fmt::Debug for RouteAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteAnswer")
            .field("connect_to", &"<redacted>")
            .field("binding", &self.binding)
            .field("caller", &self.caller)
            .finish()
    }
}

/// Why a route failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The call is refused.
    #[error("{0}")]
    Refused(Refusal),
    /// The caller's number is not a phone number.
    #[error("caller: {0}")]
    BadCaller(&'static str),
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A call record posted back by the switch.
#[derive(Clone)]
pub struct CallRecord {
    /// The virtual number dialled.
    pub number: String,
    /// Extension dialled, if any.
    pub ext: Option<u16>,
    /// The caller's phone (never stored or logged).
    pub caller: Zeroizing<String>,
    /// Call start, Unix seconds.
    pub started_at: i64,
    /// Seconds connected (0 when not answered).
    pub duration_secs: i64,
    /// `answered`, `missed`, `busy`, `refused`, `failed`.
    pub outcome: String,
}

impl std::fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecord")
            .field("number", &self.number)
            .field("ext", &self.ext)
            .field("caller", &"<redacted>")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// The dialled virtual number as the pool stores it (`+86 171…` and
/// `171…` are one number); left as sent when it is no phone number.
fn dialled(number: &str) -> String {
    normalize_phone(number).unwrap_or_else(|_| number.to_owned())
}

/// Who a call record turned out to be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    /// Log index of the call's entry.
    pub log_index: Option<u64>,
    /// The binding the call was on, if the caller is one of its parties.
    pub binding: Option<String>,
    /// The shipment, when known.
    pub waybill_no: Option<String>,
    /// `courier`, `recipient` or `unknown`.
    pub caller_side: &'static str,
    /// The employee whose contact phone placed the call, when it is one:
    /// the binding's courier, or an employee calling a number of a parcel
    /// they do not carry.
    pub employee: Option<String>,
    /// Whether the employee is the binding's courier.
    pub assigned: Option<bool>,
}

/// The outcomes a call record may report.
pub const CALL_OUTCOMES: [&str; 5] = ["answered", "missed", "busy", "refused", "failed"];

/// The privacy-number broker of one process.
#[derive(Debug)]
pub struct Broker {
    vault: Arc<Vault>,
    router: Arc<Router>,
    options: NumberOptions,
}

fn binding_label(id: &str, side: Side) -> String {
    format!("numbers/binding/{id}/{}", side.as_str())
}

fn principal_label(id: &str) -> String {
    format!("numbers/principal/{id}/phone")
}

fn new_id(prefix: &str) -> String {
    // The thread's CSPRNG (seeded from the OS): a system call per id cost
    // more than the rest of the id's making.
    let bytes: [u8; 12] = rand::thread_rng().r#gen();
    let mut s = String::with_capacity(prefix.len() + 24);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The city a shipment's pool comes from: the recipient address's city
/// (or province, for the municipalities), read from its masked form,
/// which keeps the divisions.
fn city_of(masked_address: &str) -> Option<String> {
    let parsed = crate::address::parse(masked_address);
    let a = parsed.address;
    if !a.city.is_empty() {
        Some(a.city.clone())
    } else if !a.province.is_empty() {
        Some(a.province.clone())
    } else {
        None
    }
}

fn unavailable(reason: &'static str) -> VaultError {
    VaultError::Numbers { reason }
}

impl Broker {
    /// A broker over the vault: loads the pool and the live bindings, and
    /// subscribes to other processes' changes where the store has them.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn start(vault: Arc<Vault>, options: NumberOptions) -> Result<Arc<Self>, VaultError> {
        let router = Arc::new(Router::new());
        let broker = Arc::new(Self {
            vault,
            router,
            options,
        });
        let weak: Weak<Router> = Arc::downgrade(&broker.router);
        let store = broker.vault.store().clone();
        broker
            .vault
            .store()
            .watch_bindings(Box::new(move |change| {
                let Some(router) = weak.upgrade() else { return };
                let result = match change {
                    BindingChange::Changed(tenant, id) => {
                        store.get_binding(&tenant, &id).map(|b| match b {
                            Some(b) => router.insert(b),
                            None => {
                                router.remove(&tenant, &id);
                            }
                        })
                    }
                    BindingChange::Resync => reload(store.as_ref(), &router)
                        .map_err(|e| crate::store::StoreError(e.to_string())),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "binding change not applied");
                }
            }))?;
        // Loaded after listening starts, so that no change made elsewhere
        // in between is missed.
        reload(broker.vault.store().as_ref(), &broker.router)?;
        Ok(broker)
    }

    /// This process's routing index.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The settings.
    pub fn options(&self) -> &NumberOptions {
        &self.options
    }

    /// Whether the async binds and unbinds may run on an async runtime's
    /// worker ([`Store::reads_inline`]).
    pub fn reads_inline(&self) -> bool {
        self.vault.store().reads_inline()
    }

    fn record(&self, event: parcel_tlog::Event, at: i64) -> Result<Option<u64>, VaultError> {
        pollster::block_on(self.record_async(event, at))
    }

    /// Appends `event` to the log (awaiting its durable entry), or, for a
    /// vault without a log, to the audit table.
    async fn record_async(
        &self,
        event: parcel_tlog::Event,
        at: i64,
    ) -> Result<Option<u64>, VaultError> {
        if let Some(log) = self.vault.log() {
            return Ok(Some(log.append_deferred(&event)?.await?));
        }
        let mut detail = serde_json::Map::new();
        for (k, v) in &event.detail {
            detail.insert(k.clone(), v.clone());
        }
        if let Some(w) = &event.waybill {
            detail.insert("waybill".to_owned(), w.clone().into());
        }
        self.vault.store().audit(&AuditEvent {
            at,
            tenant: event.tenant.clone(),
            actor: event.actor.clone(),
            action: event.action.clone(),
            detail: serde_json::Value::Object(detail).to_string(),
        })?;
        Ok(None)
    }

    fn phone_hash(&self, tenant: &str, normalized: &str) -> Result<PhoneHash, VaultError> {
        Ok(self
            .vault
            .blind_indexer(tenant)?
            .index(BlindKind::Phone, normalized))
    }

    /// Adds numbers to the tenant's pool for `city`. Each number must be a
    /// mainland mobile or landline number; errors name the position.
    /// Returns how many were new.
    ///
    /// # Errors
    /// A malformed number (nothing is stored then), or the store.
    pub fn load_pool(
        &self,
        tenant: &str,
        city: &str,
        numbers: &[String],
        actor: &str,
        now: i64,
    ) -> Result<usize, VaultError> {
        if city.trim().is_empty() || city.chars().count() > 32 {
            return Err(VaultError::invalid("city", "must be 1 to 32 characters"));
        }
        let mut clean = Vec::with_capacity(numbers.len());
        for (i, n) in numbers.iter().enumerate() {
            clean.push(
                normalize_phone(n).map_err(|r| VaultError::invalid(format!("numbers[{i}]"), r))?,
            );
        }
        let added = self
            .vault
            .store()
            .put_pool_numbers(tenant, city, &clean, now)?;
        self.router
            .add_numbers(tenant, city, clean.iter().map(String::as_str));
        let event = parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "number_pool")
            .with_detail("city", city)
            .with_detail("numbers", clean.len() as u64)
            .with_detail("added", added as u64);
        self.record(event, now)?;
        Ok(added)
    }

    /// Sets an employee's contact phone (side A of their bindings).
    ///
    /// # Errors
    /// A malformed phone, or the store or key store.
    pub fn set_contact_phone(
        &self,
        tenant: &str,
        principal: &str,
        phone: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), VaultError> {
        let normalized =
            Zeroizing::new(normalize_phone(phone).map_err(|r| VaultError::invalid("phone", r))?);
        let hash = self.phone_hash(tenant, &normalized)?;
        let period = period_of(now);
        let cipher = self.vault.cipher(tenant, &period, true)?;
        let sealed =
            cipher.seal_labeled(tenant, &principal_label(principal), normalized.as_bytes())?;
        self.vault.store().put_principal_phone(
            tenant,
            principal,
            &PrincipalPhone {
                hash: hash.to_vec(),
                sealed,
                period,
            },
            now,
        )?;
        let event =
            parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "contact_phone_set")
                .with_detail("principal", principal);
        self.record(event, now)?;
        Ok(())
    }

    /// Binds a privacy number for a shipment that is out for delivery:
    /// its courier's contact phone and its recipient's phone on a pool
    /// number of the recipient's city (or one with an extension when every
    /// number already carries one of the two phones). Idempotent: a
    /// shipment with a live binding gets that one back.
    ///
    /// # Errors
    /// [`VaultError::Numbers`] with `not_out_for_delivery`, `no_courier`,
    /// `no_courier_phone`, `same_phone`, `no_pool` or `pool_exhausted`;
    /// the log (nothing is bound then) or the store.
    pub fn bind(
        &self,
        tenant: &str,
        waybill: &str,
        actor: &str,
        now: i64,
    ) -> Result<Bound, VaultError> {
        pollster::block_on(self.bind_async(tenant, waybill, actor, now))
    }

    /// [`Broker::bind`] for async callers. The reads and the sealing run
    /// on the caller's thread (so an async caller should only use it where
    /// [`Store::reads_inline`] holds); the log entry and the store write
    /// are queued to their writers and awaited, holding no thread.
    ///
    /// # Errors
    /// As [`Broker::bind`].
    pub async fn bind_async(
        &self,
        tenant: &str,
        waybill: &str,
        actor: &str,
        now: i64,
    ) -> Result<Bound, VaultError> {
        let store = self.vault.store();
        let slot = crate::model::slot(Party::Recipient, Field::Phone)
            .ok_or_else(|| VaultError::invalid("field", "the recipient has no phone slot"))?;
        // One snapshot of everything the bind reads.
        let reads = store.bind_reads(tenant, waybill, slot)?;
        let record = reads.shipment.ok_or(VaultError::NotFound)?;
        if record.status != Status::OutForDelivery {
            return Err(unavailable("not_out_for_delivery"));
        }
        if let Some(b) = reads.live
            && b.expires_at > now
        {
            let b = Arc::new(b);
            self.router.insert((*b).clone());
            return Ok(Bound {
                binding: b,
                existing: true,
                log_index: None,
            });
        }
        let courier = record.courier.clone().ok_or(unavailable("no_courier"))?;
        let a = reads.courier_phone.ok_or(unavailable("no_courier_phone"))?;
        let a_hash: PhoneHash =
            a.hash.as_slice().try_into().map_err(|_| {
                VaultError::Store("principal_phones.phone_hash: bad length".to_owned())
            })?;
        let city = city_of(&record.masked.recipient.address).ok_or(unavailable("no_pool"))?;
        let b_plain = self.vault.open_field(
            tenant,
            waybill,
            Party::Recipient,
            Field::Phone,
            reads.ciphertext,
        )?;
        let b_hash = self.phone_hash(tenant, &b_plain)?;
        if a_hash == b_hash {
            return Err(unavailable("same_phone"));
        }
        let a_plain = self.vault.cipher(tenant, &a.period, false)?.open_labeled(
            tenant,
            &principal_label(&courier),
            &a.sealed,
        )?;

        let id = new_id("nb_");
        let period = period_of(now);
        let cipher = self.vault.cipher(tenant, &period, true)?;
        let window_end = match record.window {
            Some((_, end)) if end > now => end,
            _ => now + self.options.default_window_secs,
        };
        let mut binding = Binding {
            tenant: tenant.to_owned(),
            id: id.clone(),
            waybill_no: waybill.to_owned(),
            courier: courier.clone(),
            city: city.clone(),
            number: String::new(),
            ext: 0,
            a_hash,
            b_hash,
            a_sealed: cipher.seal_labeled(tenant, &binding_label(&id, Side::A), &a_plain)?,
            b_sealed: cipher.seal_labeled(
                tenant,
                &binding_label(&id, Side::B),
                b_plain.as_bytes(),
            )?,
            period,
            created_at: now,
            window_end,
            expires_at: window_end.saturating_add(self.options.grace_secs),
        };
        drop((a_plain, b_plain));

        let pool = self.router.pool_size(tenant, &city);
        if pool == 0 {
            return Err(unavailable("no_pool"));
        }
        // The least loaded of a sample spread from a random start, then
        // (if every sampled one holds a phone of the pair) all of them.
        let sampled = self.router.candidates(
            tenant,
            &city,
            &a_hash,
            &b_hash,
            now,
            Some(rand::thread_rng().gen_range(0..pool)),
        );
        let rest = || {
            self.router
                .candidates(tenant, &city, &a_hash, &b_hash, now, None)
        };
        // "No log, no data": the entry is durable before the binding can
        // route a call.
        let mut event =
            parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "number_bind");
        event.waybill = Some(waybill.to_owned());
        let event = event
            .with_detail("binding", id.as_str())
            .with_detail("courier", courier.as_str())
            .with_detail("expires_at", binding.expires_at);
        let log_index = self.record_async(event, now).await?;

        // Plain numbers first; then, if allowed, extensions on every
        // number, a few random tries each (drawn only when needed).
        let mut plain_tries = sampled
            .into_iter()
            .chain(std::iter::once_with(rest).flatten());
        let ext_rounds = if self.options.extensions { 4 } else { 0 };
        let mut all: Option<Vec<String>> = None;
        let mut ext_i = 0usize;
        loop {
            let (number, ext) = match plain_tries.next() {
                Some(n) => (n, 0),
                None => {
                    let all = all.get_or_insert_with(|| self.router.all_numbers(tenant, &city));
                    if all.is_empty() || ext_i >= all.len() * ext_rounds {
                        break;
                    }
                    let n = all[ext_i % all.len()].clone();
                    ext_i += 1;
                    (n, rand::thread_rng().gen_range(1..=parcel_numbers::MAX_EXT))
                }
            };
            binding.number = number;
            binding.ext = ext;
            match store.bind_number_deferred(&binding, now).await? {
                BindOutcome::Bound(in_the_way) => {
                    for id in in_the_way {
                        let waybill = self
                            .router
                            .get(tenant, &id)
                            .map(|b| b.waybill_no.clone())
                            .unwrap_or_default();
                        self.ended_async(tenant, &id, &waybill, "system", "expired", now)
                            .await?;
                    }
                    let binding = Arc::new(binding);
                    self.router.insert((*binding).clone());
                    return Ok(Bound {
                        binding,
                        existing: false,
                        log_index,
                    });
                }
                BindOutcome::SlotTaken => {}
                BindOutcome::AlreadyBound(other) => {
                    // Another server bound it first.
                    if let Some(b) = store.get_binding(tenant, &other)? {
                        self.router.insert(b.clone());
                        return Ok(Bound {
                            binding: Arc::new(b),
                            existing: true,
                            log_index: None,
                        });
                    }
                }
            }
        }
        Err(unavailable("pool_exhausted"))
    }

    /// Takes an ended binding out of the router and logs its end.
    async fn ended_async(
        &self,
        tenant: &str,
        id: &str,
        waybill: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<u64>, VaultError> {
        self.router.remove(tenant, id);
        let mut event =
            parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "number_unbind");
        event.waybill = Some(waybill.to_owned());
        event.reason = Some(reason.to_owned());
        self.record_async(event.with_detail("binding", id), now)
            .await
    }

    /// Ends the shipment's live binding, if it has one (on `delivered`,
    /// `returned`, erasure, or by hand). Returns the binding id.
    ///
    /// # Errors
    /// The store or the log.
    pub fn unbind_waybill(
        &self,
        tenant: &str,
        waybill: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<String>, VaultError> {
        pollster::block_on(self.unbind_waybill_async(tenant, waybill, actor, reason, now))
    }

    /// [`Broker::unbind_waybill`] for async callers, as
    /// [`Broker::bind_async`] is for binds.
    ///
    /// # Errors
    /// As [`Broker::unbind_waybill`].
    pub async fn unbind_waybill_async(
        &self,
        tenant: &str,
        waybill: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<String>, VaultError> {
        let store = self.vault.store();
        let Some(b) = store.live_binding(tenant, waybill)? else {
            return Ok(None);
        };
        if store
            .end_binding_deferred(tenant, &b.id, now, reason)
            .await?
        {
            self.ended_async(tenant, &b.id, waybill, actor, reason, now)
                .await?;
            return Ok(Some(b.id));
        }
        Ok(None)
    }

    /// Ends a binding by id; returns whether this call ended it.
    ///
    /// # Errors
    /// The store or the log.
    pub fn unbind(
        &self,
        tenant: &str,
        id: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, VaultError> {
        let Some(b) = self.vault.store().get_binding(tenant, id)? else {
            return Ok(false);
        };
        if self.vault.store().end_binding(tenant, id, now, reason)? {
            pollster::block_on(self.ended_async(tenant, id, &b.waybill_no, actor, reason, now))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Ends every binding whose grace period is over; returns how many.
    ///
    /// # Errors
    /// The store or the log.
    pub fn expire(&self, now: i64) -> Result<usize, VaultError> {
        let mut n = 0;
        loop {
            let batch = self.vault.store().expired_bindings(now, 500)?;
            if batch.is_empty() {
                return Ok(n);
            }
            for (tenant, id) in batch {
                let waybill = self
                    .vault
                    .store()
                    .get_binding(&tenant, &id)?
                    .map(|b| b.waybill_no)
                    .unwrap_or_default();
                if self
                    .vault
                    .store()
                    .end_binding(&tenant, &id, now, "expired")?
                {
                    pollster::block_on(
                        self.ended_async(&tenant, &id, &waybill, "system", "expired", now),
                    )?;
                    n += 1;
                }
            }
        }
    }

    /// The shipment's live binding.
    ///
    /// # Errors
    /// The store.
    pub fn binding_for(&self, tenant: &str, waybill: &str) -> Result<Option<Binding>, VaultError> {
        Ok(self.vault.store().live_binding(tenant, waybill)?)
    }

    fn lookup(
        &self,
        tenant: &str,
        number: &str,
        ext: Option<u16>,
        hash: &PhoneHash,
        now: i64,
    ) -> Result<parcel_numbers::Routed, RouteError> {
        match self.router.route(tenant, number, ext, hash, now) {
            Ok(r) => Ok(r),
            // Not in this index: a binding made by another server a moment
            // ago may not have reached it yet, so the database decides.
            Err(Refusal::UnknownCaller | Refusal::ExtensionRequired) => {
                if let Some(b) = self
                    .vault
                    .store()
                    .binding_by_slot(tenant, number, ext.unwrap_or(0), hash)
                    .map_err(VaultError::from)?
                {
                    self.router.insert(b);
                }
                self.router
                    .route(tenant, number, ext, hash, now)
                    .map_err(RouteError::Refused)
            }
            Err(e) => Err(RouteError::Refused(e)),
        }
    }

    /// Routes a call from `caller` to X (`number`, with `ext` if dialled).
    ///
    /// # Errors
    /// [`RouteError::Refused`] with the refusal, [`RouteError::BadCaller`].
    pub fn route(
        &self,
        tenant: &str,
        caller: &str,
        number: &str,
        ext: Option<u16>,
        now: i64,
    ) -> Result<RouteAnswer, RouteError> {
        let normalized = Zeroizing::new(normalize_phone(caller).map_err(RouteError::BadCaller)?);
        let hash = self.phone_hash(tenant, &normalized)?;
        let routed = self.lookup(tenant, &dialled(number), ext, &hash, now)?;
        let b = &routed.binding;
        let cipher = self.vault.cipher(tenant, &b.period, false)?;
        let plain = cipher.open_labeled(
            tenant,
            &binding_label(&b.id, routed.caller.other()),
            routed.target_sealed(),
        )?;
        let connect_to = Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| {
            VaultError::Tampered {
                what: "binding phone".to_owned(),
            }
        })?);
        Ok(RouteAnswer {
            connect_to,
            binding: routed.binding.clone(),
            caller: routed.caller,
        })
    }

    /// Records a call the switch reports: which binding and side it was,
    /// or, for a caller who is no party, whether the phone is an
    /// employee's. The entry is durable when this returns.
    ///
    /// # Errors
    /// A malformed record (fields named), the store or the log.
    pub fn record_call(
        &self,
        tenant: &str,
        actor: &str,
        call: &CallRecord,
        now: i64,
    ) -> Result<CallFacts, VaultError> {
        if !CALL_OUTCOMES.contains(&call.outcome.as_str()) {
            return Err(VaultError::invalid(
                "outcome",
                "one of answered, missed, busy, refused, failed",
            ));
        }
        if call.duration_secs < 0 || call.duration_secs > 86_400 {
            return Err(VaultError::invalid("duration_secs", "0 to 86400"));
        }
        let normalized = Zeroizing::new(
            normalize_phone(&call.caller).map_err(|r| VaultError::invalid("caller", r))?,
        );
        let hash = self.phone_hash(tenant, &normalized)?;
        let number = dialled(&call.number);
        let binding = match self
            .router
            .route(tenant, &number, call.ext, &hash, call.started_at)
        {
            Ok(r) => Some((r.binding.clone(), r.caller)),
            Err(Refusal::Expired | Refusal::RestrictedDirection) => {
                // Still a party; the binding just no longer connects.
                self.vault
                    .store()
                    .binding_by_slot(tenant, &number, call.ext.unwrap_or(0), &hash)?
                    .map(|b| {
                        let side = if b.a_hash == hash { Side::A } else { Side::B };
                        (Arc::new(b), side)
                    })
            }
            Err(_) => self
                .vault
                .store()
                .binding_by_slot(tenant, &number, call.ext.unwrap_or(0), &hash)?
                .map(|b| {
                    let side = if b.a_hash == hash { Side::A } else { Side::B };
                    (Arc::new(b), side)
                }),
        };
        let mut facts = CallFacts {
            log_index: None,
            binding: binding.as_ref().map(|(b, _)| b.id.clone()),
            waybill_no: binding.as_ref().map(|(b, _)| b.waybill_no.clone()),
            caller_side: binding.as_ref().map_or("unknown", |(_, s)| s.as_str()),
            employee: None,
            assigned: None,
        };
        match &binding {
            Some((b, Side::A)) => {
                facts.employee = Some(b.courier.clone());
                facts.assigned = Some(true);
            }
            Some((_, Side::B)) => {}
            None => {
                if let Some(e) = self.vault.store().principal_by_phone(tenant, &hash)? {
                    facts.employee = Some(e);
                    facts.assigned = Some(false);
                }
            }
        }
        let mut event = parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "call");
        event.waybill = facts.waybill_no.clone();
        let mut event = event
            .with_detail("number", number.as_str())
            .with_detail("caller_side", facts.caller_side)
            .with_detail("outcome", call.outcome.as_str())
            .with_detail("duration_secs", call.duration_secs)
            .with_detail("started_at", call.started_at);
        if let Some(ext) = call.ext {
            event = event.with_detail("ext", u64::from(ext));
        }
        if let Some(b) = &facts.binding {
            event = event.with_detail("binding", b.as_str());
        }
        if let Some(e) = &facts.employee {
            event = event.with_detail("employee", e.as_str());
        }
        facts.log_index = self.record(event, now)?;
        Ok(facts)
    }
}

fn reload(store: &dyn Store, router: &Router) -> Result<(), VaultError> {
    for (tenant, city, number) in store.pool_numbers()? {
        router.add_numbers(&tenant, &city, [number.as_str()]);
    }
    router.replace_all(store.live_bindings()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::city_of;

    #[test]
    fn city_comes_from_the_masked_address() {
        assert_eq!(city_of("北京市朝阳区建国路**号").as_deref(), Some("北京市"));
        assert_eq!(
            city_of("广东省深圳市南山区科技园路*号").as_deref(),
            Some("深圳市")
        );
        assert_eq!(city_of("***").as_deref(), None);
    }
}
