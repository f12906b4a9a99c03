//! Purpose-bound reveal: the one way plaintext leaves the vault.
//!
//! A reveal is decided by the Cedar policies ([`parcel_policy::Engine`]),
//! counted against the principal's quotas, and recorded in the
//! transparency log before anything is returned: the plaintext is
//! decrypted into a zeroized buffer, the entry is appended (durable when
//! `append` returns), and only then does the caller get the value. If the
//! log cannot take the entry, the buffer is dropped and the reveal fails
//! closed. Denials are logged the same way.

use parcel_policy::{
    Decision, Engine, PrincipalFacts, PrincipalKind, RevealFacts, RevealRequest, ShipmentFacts,
};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::model::{Field, Party, ShipmentRecord, Status};
use crate::store::{BreakGlass, Principal, QuotaWindow};
use crate::vault::Vault;

/// Settings of the reveal path.
#[derive(Debug, Clone)]
pub struct RevealOptions {
    /// Seconds after delivery or return that reveals stay possible.
    pub grace_secs: i64,
    /// Seconds a break-glass request waits for approval, and then for use.
    pub break_glass_secs: i64,
    /// `(role, per hour, per day)`; roles not listed get no reveals.
    pub quotas: Vec<(String, i64, i64)>,
    /// Reveals of a principal's quota taken from the store at once and
    /// handed out by this process (`crate::quota`); 1 counts every reveal
    /// in the store.
    pub quota_lease: i64,
}

impl Default for RevealOptions {
    fn default() -> Self {
        Self {
            grace_secs: 86_400,
            break_glass_secs: 900,
            quotas: vec![
                ("courier".to_owned(), 80, 400),
                ("customer_service".to_owned(), 40, 200),
                ("station_manager".to_owned(), 30, 120),
                ("admin".to_owned(), 10, 40),
            ],
            quota_lease: 1,
        }
    }
}

/// What a caller asks to see.
#[derive(Debug, Clone)]
pub struct RevealInput {
    /// The shipment.
    pub waybill_no: String,
    /// Whose data.
    pub party: Party,
    /// Which field.
    pub field: Field,
    /// Declared purpose (one of [`parcel_policy::PURPOSES`]).
    pub purpose: String,
    /// A ticket registered for the shipment.
    pub ticket_id: Option<String>,
    /// The caller's device.
    pub device_id: Option<String>,
    /// An approved break-glass request (admins).
    pub break_glass_id: Option<String>,
}

/// The outcome of a reveal.
#[derive(Debug)]
pub struct RevealOutcome {
    /// The decision (with its reason, policies and policy-set version).
    pub decision: Decision,
    /// The plaintext, when allowed.
    pub value: Option<Zeroizing<String>>,
    /// Index of the log entry that records this reveal or denial.
    pub log_index: u64,
    /// Whether the shipment is assigned to the caller (`None`: no such
    /// shipment), for the insider-risk detector.
    pub assigned: Option<bool>,
}

/// A denial that comes from state the policies do not see.
fn denial(reason: &str, policy: &str, version: &str) -> Decision {
    Decision {
        allowed: false,
        reason: Some(reason.to_owned()),
        policies: vec![policy.to_owned()],
        reasons: vec![reason.to_owned()],
        version: version.to_owned(),
    }
}

/// The facts the policies see of a shipment (no personal values).
pub fn shipment_facts(r: &ShipmentRecord) -> ShipmentFacts {
    let time = |s: Status| {
        Status::ALL
            .iter()
            .position(|x| *x == s)
            .and_then(|i| r.status_times[i])
    };
    let purged = r.purged_at.is_some();
    ShipmentFacts {
        waybill_no: r.waybill_no.clone(),
        carrier: r.carrier.clone(),
        status: r.status.as_str().to_owned(),
        courier: r.courier.clone(),
        origin_station: r.origin_station.clone(),
        destination_station: r.destination_station.clone(),
        window: r.window,
        out_for_delivery_at: time(Status::OutForDelivery),
        closed_at: time(Status::Delivered).or_else(|| time(Status::Returned)),
        sender_erased: purged || r.masked.sender.erased,
        recipient_erased: purged || r.masked.recipient.erased,
    }
}

/// The facts the policies see of a principal.
pub fn principal_facts(p: &Principal) -> PrincipalFacts {
    PrincipalFacts {
        kind: if p.role == "service" {
            PrincipalKind::Service
        } else {
            PrincipalKind::Employee
        },
        id: p.id.clone(),
        role: p.role.clone(),
        status: p.status.clone(),
        station: p.station.clone(),
    }
}

impl Vault {
    /// Decides, counts, records and (when allowed) returns one field.
    ///
    /// `principal` is re-read from the store, so a suspension takes effect
    /// on the next reveal whatever an authentication cache holds. Unknown
    /// shipments are recorded as denials (`not_found`) too: probing for
    /// waybill numbers is itself a signal. Fails with
    /// [`VaultError::Log`] when no log is attached or it cannot record.
    pub fn reveal(
        &self,
        engine: &Engine,
        options: &RevealOptions,
        principal: &Principal,
        input: &RevealInput,
        now: i64,
    ) -> Result<RevealOutcome, VaultError> {
        pollster::block_on(self.reveal_async(engine, options, principal, input, now))
    }

    /// [`Vault::reveal`] for async callers. The reads, the decision and
    /// the decryption run on the caller's thread (so an async caller
    /// should only use it where [`crate::store::Store::reads_inline`]
    /// holds); the quota count and the log append are queued to their
    /// writer threads and awaited, so no thread sits waiting for a commit.
    /// A caller that stops polling part-way may leave a counted quota
    /// without its entry (and then nothing was returned); callers that
    /// need every decision recorded run it to completion in a task of its
    /// own.
    pub async fn reveal_async(
        &self,
        engine: &Engine,
        options: &RevealOptions,
        principal: &Principal,
        input: &RevealInput,
        now: i64,
    ) -> Result<RevealOutcome, VaultError> {
        let log = self
            .log()
            .ok_or(VaultError::Log(parcel_tlog::LogError::Storage(
                "no transparency log is attached; reveals need one".to_owned(),
            )))?
            .clone();
        let tenant = &principal.tenant;
        let version = engine.policies().version().to_owned();
        let slot = crate::model::slot(input.party, input.field)
            .ok_or_else(|| VaultError::invalid("field", "the recipient has no ID number"))?;
        // One snapshot for the decision and the value it releases.
        let reads =
            self.store()
                .reveal_reads(tenant, &principal.id, &input.waybill_no, slot, now)?;
        let fresh = reads.principal.unwrap_or_else(|| Principal {
            status: "suspended".to_owned(),
            ..principal.clone()
        });
        let record = reads.shipment;
        let mut break_glass: Option<BreakGlass> = None;
        let decision = match &record {
            None => denial("not_found", "shipment-exists", &version),
            Some(record) => {
                let ticket_bound = match &input.ticket_id {
                    Some(id) => self.store().get_ticket(tenant, id)?.is_some_and(|t| {
                        t.waybill_no == record.waybill_no && t.closed_at.is_none()
                    }),
                    None => false,
                };
                let mut bg_invalid = false;
                if let Some(id) = &input.break_glass_id {
                    let found = self.store().get_break_glass(tenant, id)?;
                    match found {
                        Some(b)
                            if b.requester == fresh.id
                                && b.waybill_no == record.waybill_no
                                && b.party == input.party.as_str()
                                && b.field == input.field.as_str()
                                && b.used_at.is_none()
                                && b.approved_at
                                    .is_some_and(|t| now <= t + options.break_glass_secs) =>
                        {
                            break_glass = Some(b);
                        }
                        _ => bg_invalid = true,
                    }
                }
                if bg_invalid {
                    denial("break_glass_not_approved", "break-glass-approved", &version)
                } else {
                    let request = RevealRequest {
                        principal: principal_facts(&fresh),
                        shipment: shipment_facts(record),
                        reveal: RevealFacts {
                            party: input.party.as_str().to_owned(),
                            field: input.field.as_str().to_owned(),
                            purpose: input.purpose.clone(),
                            now,
                            grace_secs: options.grace_secs,
                            ticket_id: input.ticket_id.clone(),
                            ticket_bound,
                            device_id: input.device_id.clone(),
                            // For anyone else an approval is a second
                            // person's yes, not an override of policy.
                            break_glass: break_glass.is_some() && fresh.role == "admin",
                        },
                    };
                    engine
                        .decide(&request)
                        .map_err(|e| VaultError::Store(format!("policy: {e}")))?
                }
            }
        };
        let mut decision = decision;
        // An insider-risk response may require a second person's approval
        // of each of this principal's reveals (checked before the quota
        // counts the reveal).
        if decision.allowed
            && break_glass.is_none()
            && fresh.role != "admin"
            && reads.approval_hold.is_some()
        {
            decision = denial("approval_required", "risk-approval-hold", &decision.version);
        }
        if decision.allowed {
            let (mut hour, mut day) = options
                .quotas
                .iter()
                .find(|(role, _, _)| *role == fresh.role)
                .map_or((0, 0), |(_, h, d)| (*h, *d));
            // An insider-risk response may have tightened this principal's.
            if let Some(o) = &reads.quota_override {
                hour = hour.min(o.per_hour);
                day = day.min(o.per_day);
            }
            let windows = [
                QuotaWindow {
                    secs: 3600,
                    start: now - now.rem_euclid(3600),
                    limit: hour,
                },
                QuotaWindow {
                    secs: 86_400,
                    start: now - now.rem_euclid(86_400),
                    limit: day,
                },
            ];
            // A reveal leased earlier costs no count; otherwise take up to
            // a lease (one when leases are off) and keep the rest.
            let full = if options.quota_lease > 1 && self.leases.take(tenant, &fresh.id, &windows) {
                None
            } else {
                match self
                    .store()
                    .take_quota_lease(tenant, &fresh.id, &windows, options.quota_lease.max(1))
                    .await?
                {
                    Ok(taken) => {
                        self.leases.keep(tenant, &fresh.id, &windows, taken - 1);
                        None
                    }
                    Err(i) => Some(i),
                }
            };
            if let Some(full) = full {
                let which = if full == 0 { "quota-hour" } else { "quota-day" };
                decision = denial("quota_exceeded", which, &decision.version);
            }
        }
        if decision.allowed
            && let Some(b) = &break_glass
            && !self.store().use_break_glass(tenant, &b.id, now)?
        {
            decision = denial("break_glass_not_approved", "break-glass-once", &version);
        }
        // Decrypt before recording, so the entry says exactly what left;
        // the buffer is zeroized if the log refuses it.
        let value = if decision.allowed {
            Some(self.open_field(
                tenant,
                &input.waybill_no,
                input.party,
                input.field,
                reads.ciphertext,
            )?)
        } else {
            None
        };
        let mut event =
            parcel_tlog::Event::new(now.saturating_mul(1000), tenant, &fresh.id, "reveal");
        event.role = Some(fresh.role.clone());
        event.waybill = Some(input.waybill_no.clone());
        event.party = Some(input.party.as_str().to_owned());
        event.field = Some(input.field.as_str().to_owned());
        event.purpose = Some(input.purpose.clone());
        event.decision = Some(if decision.allowed { "allow" } else { "deny" }.to_owned());
        event.reason = decision.reason.clone();
        event.policies = decision.policies.clone();
        event.policy_version = Some(decision.version.clone());
        event.device = input.device_id.clone();
        if let Some(t) = &input.ticket_id {
            event = event.with_detail("ticket", t.as_str());
        }
        if let Some(b) = &break_glass {
            event = event
                .with_detail("break_glass", b.id.as_str())
                .with_detail("approved_by", b.approved_by.clone().unwrap_or_default());
        }
        let assigned = record
            .as_ref()
            .map(|r| r.courier.as_deref() == Some(fresh.id.as_str()));
        if assigned == Some(true) {
            event = event.with_detail("assigned", true);
        }
        let log_index = log.append_deferred(&event)?.await?;
        if break_glass.is_some() && decision.allowed {
            // The security team's alert: always, whatever the outcome.
            tracing::warn!(
                target: "parcelguard::alert",
                actor = %fresh.id,
                waybill = %input.waybill_no,
                log_index,
                "break-glass reveal"
            );
        }
        Ok(RevealOutcome {
            decision,
            value,
            log_index,
            assigned,
        })
    }
}
