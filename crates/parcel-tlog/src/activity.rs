//! An in-memory index of the log's access entries, for the console: the
//! access log searched by actor, waybill, purpose and decision; reveals per
//! hour by decision; top denial reasons; an actor's hourly activity against
//! their peers; the policy-set history.
//!
//! It is rebuilt from the log itself (entries are the only source of truth)
//! and fed incrementally: [`ActivityIndex::next_index`] says where to read
//! from next. It holds no personal data because entries hold none. Memory is
//! bounded: beyond [`ActivityIndex::capacity`] records the oldest go (the
//! per-hour counts stay).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::Event;

const HOUR_MS: i64 = 3_600_000;

/// One access entry as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// Index of the entry in the log.
    pub index: u64,
    /// When, Unix milliseconds.
    pub unix_ms: i64,
    /// The entry's timestamp as written.
    pub ts: String,
    /// Tenant; empty for system-wide entries.
    pub tenant: String,
    /// Principal id (or `system`).
    pub actor: String,
    /// The actor's role, when recorded.
    pub role: Option<String>,
    /// `reveal`, `search`, `alert`, ….
    pub action: String,
    /// The shipment.
    pub waybill: Option<String>,
    /// `sender` or `recipient`.
    pub party: Option<String>,
    /// The field revealed.
    pub field: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    /// Denial reason code.
    pub reason: Option<String>,
    /// Version of the policy set that decided (or was put in force).
    pub policy_version: Option<String>,
}

/// What to look for in [`ActivityIndex::search`]; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Only these tenants' entries (system-wide entries have tenant `""`).
    pub tenants: &'a [&'a str],
    /// Actor id.
    pub actor: Option<&'a str>,
    /// Waybill number.
    pub waybill: Option<&'a str>,
    /// Purpose.
    pub purpose: Option<&'a str>,
    /// Decision.
    pub decision: Option<&'a str>,
    /// Action.
    pub action: Option<&'a str>,
    /// Only entries with a smaller index (paging back in time).
    pub before: Option<u64>,
}

impl Filter<'_> {
    fn matches(&self, r: &AccessRecord) -> bool {
        let eq = |want: Option<&str>, have: Option<&String>| {
            want.is_none_or(|w| have.is_some_and(|h| h == w))
        };
        self.tenants.contains(&r.tenant.as_str())
            && self.actor.is_none_or(|a| a == r.actor)
            && self.action.is_none_or(|a| a == r.action)
            && eq(self.waybill, r.waybill.as_ref())
            && eq(self.purpose, r.purpose.as_ref())
            && eq(self.decision, r.decision.as_ref())
            && self.before.is_none_or(|b| r.index < b)
    }
}

/// Reveal decisions in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    /// Reveals allowed.
    pub allow: u64,
    /// Reveals denied.
    pub deny: u64,
}

/// One hour of an actor's activity beside their peers'.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActorHour {
    /// Start of the hour, Unix milliseconds.
    pub hour_ms: i64,
    /// The actor's accesses (reveals and denials, searches).
    pub actor: u64,
    /// Median over the peers (same role, same tenant) active that hour.
    pub peer_median: f64,
    /// 90th percentile over those peers.
    pub peer_p90: f64,
    /// How many peers were active.
    pub peers: usize,
}

/// A policy-set change as the log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// Index of the entry.
    pub index: u64,
    /// When, as written.
    pub ts: String,
    /// Tenant (empty for a server-wide change).
    pub tenant: String,
    /// Who put it in force.
    pub actor: String,
    /// The version put in force.
    pub version: Option<String>,
    /// The version it replaced.
    pub previous: Option<String>,
}

/// The index. See the module documentation.
#[derive(Debug)]
pub struct ActivityIndex {
    next: u64,
    capacity: usize,
    records: VecDeque<AccessRecord>,
    hourly: BTreeMap<(String, i64), HourCounts>,
    policy: Vec<PolicyChange>,
}

impl Default for ActivityIndex {
    fn default() -> Self {
        Self::with_capacity(1_000_000)
    }
}

/// Actions that are a person's access to customers' data (the timeline's
/// activity).
const ACCESS_ACTIONS: [&str; 2] = ["reveal", "search"];

fn parse_ms(ts: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

impl ActivityIndex {
    /// An empty index keeping at most `capacity` records.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            next: 0,
            capacity: capacity.max(1),
            records: VecDeque::new(),
            hourly: BTreeMap::new(),
            policy: Vec::new(),
        }
    }

    /// The most records kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The log index to ingest next (every entry below it has been seen).
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Records kept now.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Takes in entry `index`. Entries must come in order; one already seen
    /// is ignored, and a gap is an error the caller should not cause (it
    /// reads the log from [`Self::next_index`]).
    pub fn ingest(&mut self, index: u64, event: &Event) {
        if index < self.next {
            return;
        }
        self.next = index + 1;
        let Some(unix_ms) = parse_ms(&event.ts) else {
            return;
        };
        if event.action == "policy_change" {
            self.policy.push(PolicyChange {
                index,
                ts: event.ts.clone(),
                tenant: event.tenant.clone(),
                actor: event.actor.clone(),
                version: event.policy_version.clone(),
                previous: event
                    .detail
                    .get("previous")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            });
        }
        if event.action == "reveal" {
            let c = self
                .hourly
                .entry((event.tenant.clone(), unix_ms.div_euclid(HOUR_MS) * HOUR_MS))
                .or_default();
            if event.decision.as_deref() == Some("allow") {
                c.allow += 1;
            } else {
                c.deny += 1;
            }
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(AccessRecord {
            index,
            unix_ms,
            ts: event.ts.clone(),
            tenant: event.tenant.clone(),
            actor: event.actor.clone(),
            role: event.role.clone(),
            action: event.action.clone(),
            waybill: event.waybill.clone(),
            party: event.party.clone(),
            field: event.field.clone(),
            purpose: event.purpose.clone(),
            decision: event.decision.clone(),
            reason: event.reason.clone(),
            policy_version: event.policy_version.clone(),
        });
    }

    /// Up to `limit` records matching `filter`, newest first.
    pub fn search(&self, filter: &Filter<'_>, limit: usize) -> Vec<&AccessRecord> {
        self.records
            .iter()
            .rev()
            .filter(|r| filter.matches(r))
            .take(limit)
            .collect()
    }

    /// Reveal decisions per hour for `tenant`, one row per hour from the
    /// hour holding `from_ms` to the one holding `to_ms` (empty hours too).
    pub fn hourly(&self, tenant: &str, from_ms: i64, to_ms: i64) -> Vec<(i64, HourCounts)> {
        let first = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let last = to_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let mut out = Vec::new();
        let mut h = first;
        while h <= last {
            let c = self
                .hourly
                .get(&(tenant.to_owned(), h))
                .copied()
                .unwrap_or_default();
            out.push((h, c));
            h += HOUR_MS;
        }
        out
    }

    /// The `n` most frequent denial reasons of `tenant` since `since_ms`,
    /// most frequent first (ties by name).
    pub fn top_denials(&self, tenant: &str, since_ms: i64, n: usize) -> Vec<(String, u64)> {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for r in self.records.iter().rev() {
            if r.unix_ms < since_ms {
                break;
            }
            if r.tenant == tenant && r.action == "reveal" && r.decision.as_deref() == Some("deny") {
                *counts
                    .entry(r.reason.as_deref().unwrap_or("unknown"))
                    .or_default() += 1;
            }
        }
        let mut v: Vec<(String, u64)> =
            counts.into_iter().map(|(k, c)| (k.to_owned(), c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// `actor`'s accesses per hour from `from_ms` to `to_ms` beside the
    /// accesses of the other actors of `tenant` with the same role.
    pub fn actor_timeline(
        &self,
        tenant: &str,
        actor: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<ActorHour> {
        let first = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let last = to_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let role = self
            .records
            .iter()
            .rev()
            .find(|r| r.tenant == tenant && r.actor == actor && r.role.is_some())
            .and_then(|r| r.role.clone());
        // (hour, actor) → accesses.
        let mut per: BTreeMap<(i64, &str), u64> = BTreeMap::new();
        for r in &self.records {
            if r.tenant != tenant
                || !ACCESS_ACTIONS.contains(&r.action.as_str())
                || r.unix_ms < first
                || r.unix_ms >= last + HOUR_MS
                || (r.actor != actor && r.role != role)
            {
                continue;
            }
            *per.entry((r.unix_ms.div_euclid(HOUR_MS) * HOUR_MS, r.actor.as_str()))
                .or_default() += 1;
        }
        let mut out = Vec::new();
        let mut h = first;
        while h <= last {
            let mut peers: Vec<u64> = per
                .range((h, "")..(h + 1, ""))
                .filter(|((_, a), _)| *a != actor)
                .map(|(_, &n)| n)
                .collect();
            peers.sort_unstable();
            out.push(ActorHour {
                hour_ms: h,
                actor: per.get(&(h, actor)).copied().unwrap_or(0),
                peer_median: quantile(&peers, 0.5),
                peer_p90: quantile(&peers, 0.9),
                peers: peers.len(),
            });
            h += HOUR_MS;
        }
        out
    }

    /// Every policy-set change seen, oldest first.
    pub fn policy_history(&self) -> &[PolicyChange] {
        &self.policy
    }
}

/// Linear-interpolated quantile of sorted values (0 for none).
fn quantile(sorted: &[u64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0] as f64,
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            sorted[lo] as f64 * (1.0 - frac) + sorted[hi] as f64 * frac
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000 / HOUR_MS * HOUR_MS;

    fn ev(ms: i64, actor: &str, role: &str, action: &str, decision: Option<&str>) -> Event {
        let mut e = Event::new(ms, "sf", actor, action);
        e.role = Some(role.to_owned());
        e.decision = decision.map(str::to_owned);
        if decision == Some("deny") {
            e.reason = Some("not_assigned".to_owned());
        }
        e.waybill = Some(format!("SF{ms}"));
        e.purpose = Some("delivery_contact".to_owned());
        e
    }

    fn index(events: &[Event]) -> ActivityIndex {
        let mut ix = ActivityIndex::with_capacity(100);
        for (i, e) in events.iter().enumerate() {
            ix.ingest(i as u64, e);
        }
        ix
    }

    #[test]
    fn search_filters_newest_first_and_pages_back() {
        let mut events = Vec::new();
        for i in 0..10 {
            let d = if i % 3 == 0 { "deny" } else { "allow" };
            events.push(ev(
                T0 + i * 1000,
                if i % 2 == 0 { "E1" } else { "E2" },
                "courier",
                "reveal",
                Some(d),
            ));
        }
        let mut other = ev(T0, "E1", "courier", "reveal", Some("allow"));
        other.tenant = "yto".into();
        events.push(other);
        let ix = index(&events);
        let f = Filter {
            tenants: &["sf"],
            actor: Some("E1"),
            ..Filter::default()
        };
        let got: Vec<u64> = ix.search(&f, 100).iter().map(|r| r.index).collect();
        assert_eq!(got, [8, 6, 4, 2, 0]);
        let f = Filter {
            tenants: &["sf"],
            decision: Some("deny"),
            before: Some(6),
            ..Filter::default()
        };
        let got: Vec<u64> = ix.search(&f, 100).iter().map(|r| r.index).collect();
        assert_eq!(got, [3, 0]);
        let f = Filter {
            tenants: &["sf"],
            waybill: Some(&format!("SF{}", T0 + 2000)),
            ..Filter::default()
        };
        assert_eq!(ix.search(&f, 100).len(), 1);
        assert_eq!(
            ix.search(
                &Filter {
                    tenants: &["yto"],
                    ..Filter::default()
                },
                100
            )
            .len(),
            1
        );
        assert!(
            ix.search(&Filter::default(), 100).is_empty(),
            "no tenant, nothing"
        );
        assert_eq!(
            ix.search(
                &Filter {
                    tenants: &["sf"],
                    ..Filter::default()
                },
                3
            )
            .len(),
            3
        );
    }

    #[test]
    fn hourly_counts_and_top_denials() {
        let mut events = vec![
            ev(T0 + 5, "E1", "courier", "reveal", Some("allow")),
            ev(T0 + 6, "E1", "courier", "reveal", Some("deny")),
            ev(T0 + 2 * HOUR_MS, "E2", "courier", "reveal", Some("deny")),
            ev(T0 + 2 * HOUR_MS + 1, "E2", "courier", "search", None),
        ];
        let mut quota = ev(
            T0 + 2 * HOUR_MS + 2,
            "E2",
            "courier",
            "reveal",
            Some("deny"),
        );
        quota.reason = Some("quota_exceeded".into());
        events.push(quota);
        let ix = index(&events);
        let h = ix.hourly("sf", T0, T0 + 2 * HOUR_MS + 10);
        assert_eq!(h.len(), 3, "empty hours are rows too");
        assert_eq!(h[0], (T0, HourCounts { allow: 1, deny: 1 }));
        assert_eq!(h[1].1, HourCounts::default());
        assert_eq!(h[2].1, HourCounts { allow: 0, deny: 2 });
        assert_eq!(
            ix.top_denials("sf", T0, 5),
            [
                ("not_assigned".to_owned(), 2),
                ("quota_exceeded".to_owned(), 1)
            ]
        );
        assert_eq!(ix.top_denials("sf", T0 + HOUR_MS, 5).len(), 2);
        assert_eq!(ix.top_denials("sf", T0 + 3 * HOUR_MS, 5), []);
    }

    #[test]
    fn timeline_compares_an_actor_with_peers_of_the_same_role() {
        let mut events = Vec::new();
        for n in 0..30 {
            events.push(ev(T0 + n, "E9", "courier", "reveal", Some("deny")));
        }
        for (actor, n) in [("E1", 2), ("E2", 4), ("E3", 6)] {
            for k in 0..n {
                events.push(ev(T0 + 100 + k, actor, "courier", "reveal", Some("allow")));
            }
        }
        for k in 0..50 {
            events.push(ev(T0 + 200 + k, "C1", "customer_service", "search", None));
        }
        let ix = index(&events);
        let t = ix.actor_timeline("sf", "E9", T0, T0 + HOUR_MS);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].actor, 30);
        assert_eq!(t[0].peers, 3, "the agent is not a courier's peer");
        assert!((t[0].peer_median - 4.0).abs() < 1e-9);
        assert!((t[0].peer_p90 - 5.6).abs() < 1e-9);
        assert_eq!(t[1].actor, 0);
        assert_eq!(t[1].peers, 0);
    }

    #[test]
    fn capacity_drops_the_oldest_records_and_replays_are_ignored() {
        let events: Vec<Event> = (0..10)
            .map(|i| ev(T0 + i, "E1", "courier", "reveal", Some("allow")))
            .collect();
        let mut ix = ActivityIndex::with_capacity(4);
        for (i, e) in events.iter().enumerate() {
            ix.ingest(i as u64, e);
        }
        ix.ingest(3, &events[3]);
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.next_index(), 10);
        let f = Filter {
            tenants: &["sf"],
            ..Filter::default()
        };
        assert_eq!(ix.search(&f, 10).last().map(|r| r.index), Some(6));
        assert_eq!(
            ix.hourly("sf", T0, T0)[0].1.allow,
            10,
            "counts outlive records"
        );
    }

    #[test]
    fn policy_changes_are_kept_in_order() {
        let mut a = Event::new(T0, "", "A1", "policy_change").with_detail("previous", "v1");
        a.policy_version = Some("v2".into());
        let ix = index(&[ev(T0, "E1", "courier", "reveal", Some("allow")), a]);
        let h = ix.policy_history();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].index, 1);
        assert_eq!(h[0].version.as_deref(), Some("v2"));
        assert_eq!(h[0].previous.as_deref(), Some("v1"));
    }
}
