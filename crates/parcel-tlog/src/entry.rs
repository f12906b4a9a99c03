//! The log entry: one access event in a canonical, versioned encoding.
//!
//! An entry is compact JSON with a fixed field order, `"v":1` first, absent
//! fields omitted and detail keys sorted. [`Event::decode`] accepts only the
//! bytes [`Event::encode`] would write, so one event has exactly one
//! encoding and an auditor can re-derive every leaf hash from the event.
//!
//! Entries hold no personal data: employees appear by their principal id,
//! customers not at all. What links an entry to a customer (their keyed
//! hash) and other detail that must expire with retention or go with an
//! erasure is not in the entry; it lives outside the tree
//! ([`crate::log::ExpiringDetail`]), bound to the entry by the salted
//! SHA-256 commitment in `detail_sha256`, so deleting it never changes a
//! leaf and the commitment alone reveals nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::LogError;

/// The encoding version this code writes.
pub const ENTRY_VERSION: u8 = 1;

/// Largest encoded entry: entry bundles prefix each entry with a 2-byte
/// length (C2SP tlog-tiles).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// One event in the transparency log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Encoding version ([`ENTRY_VERSION`]).
    pub v: u8,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// Tenant (express brand or network); empty for system-wide events.
    pub tenant: String,
    /// Who: principal id, or `system`.
    pub actor: String,
    /// The actor's role at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What: `reveal`, `search`, `erase_person`, `retention_purge`,
    /// `key_rotate`, `key_retire`, `policy_change`, `break_glass`, `login`, ….
    pub action: String,
    /// The shipment concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waybill: Option<String>,
    /// `sender` or `recipient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// `name`, `phone`, `address` or `id_number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The declared purpose of a reveal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Reason code of a denial (`not_assigned`, `quota_exceeded`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Ids of the policies that decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Version of the policy set that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Device id of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Non-personal figures and identifiers (result counts, key versions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, serde_json::Value>,
    /// SHA-256 (hex) of expiring detail kept outside the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_sha256: Option<String>,
}

impl Event {
    /// A new event at Unix time `unix_ms` (milliseconds) with every optional
    /// field empty.
    pub fn new(unix_ms: i64, tenant: &str, actor: &str, action: &str) -> Self {
        Self {
            v: ENTRY_VERSION,
            ts: format_ts(unix_ms),
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            role: None,
            action: action.to_owned(),
            waybill: None,
            party: None,
            field: None,
            purpose: None,
            decision: None,
            reason: None,
            policies: Vec::new(),
            policy_version: None,
            device: None,
            detail: BTreeMap::new(),
            detail_sha256: None,
        }
    }

    /// Adds one detail figure.
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), canonical(value.into()));
        self
    }

    /// The canonical bytes of this event.
    pub fn encode(&self) -> Result<Vec<u8>, LogError> {
        let mut copy = self.clone();
        for v in copy.detail.values_mut() {
            *v = canonical(std::mem::take(v));
        }
        let bytes = serde_json::to_vec(&copy)
            .map_err(|e| LogError::Entry(format!("cannot encode: {e}")))?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(LogError::Entry(format!(
                "encoded entry is {} bytes; at most {MAX_ENTRY_BYTES} fit a bundle",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Parses an entry, accepting only its canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, LogError> {
        let event: Event = serde_json::from_slice(bytes).map_err(|e| {
            LogError::Entry(format!(
                "not a version {ENTRY_VERSION} entry (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if event.v != ENTRY_VERSION {
            return Err(LogError::Entry(format!(
                "entry version {} is not supported (this build reads {ENTRY_VERSION})",
                event.v
            )));
        }
        if event.encode()? != bytes {
            return Err(LogError::Entry(
                "entry is not in canonical form (field order, spacing or key order differ)"
                    .to_owned(),
            ));
        }
        Ok(event)
    }
}

/// Sorts object keys recursively, whatever map type serde_json was built with.
fn canonical(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

/// RFC 3339 UTC with milliseconds (`2026-11-23T08:00:00.123Z`).
pub fn format_ts(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::new(1_795_000_000_123, "sf", "E1001", "reveal")
            .with_detail("results", 3)
            .with_detail(
                "nested",
                serde_json::json!({"b": 1, "a": [2, {"d": 0, "c": 1}]}),
            );
        e.role = Some("courier".into());
        e.waybill = Some("SF1234567890123".into());
        e.party = Some("recipient".into());
        e.field = Some("phone".into());
        e.purpose = Some("delivery_contact".into());
        e.decision = Some("allow".into());
        e.policies = vec!["courier-recipient-contact".into()];
        e.policy_version = Some("3".into());
        e.detail_sha256 = Some("ab".repeat(32));
        e
    }

    #[test]
    fn encoding_is_canonical_and_round_trips() {
        let e = sample();
        let bytes = e.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"ts":"2026-11-18T11:06:40.123Z""#),
            "{text}"
        );
        assert!(
            text.contains(r#""nested":{"a":[2,{"c":1,"d":0}],"b":1}"#),
            "{text}"
        );
        assert_eq!(Event::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn non_canonical_and_foreign_entries_are_rejected() {
        let bytes = sample().encode().unwrap();
        let spaced = String::from_utf8(bytes)
            .unwrap()
            .replace(",\"tenant\"", ", \"tenant\"");
        assert!(Event::decode(spaced.as_bytes()).is_err());
        let v2 = r#"{"v":2,"ts":"x","tenant":"","actor":"a","action":"b"}"#;
        assert!(
            Event::decode(v2.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
        let unknown = r#"{"v":1,"ts":"x","tenant":"","actor":"a","action":"b","phone":"1"}"#;
        assert!(Event::decode(unknown.as_bytes()).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_millis() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ts(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }
}
