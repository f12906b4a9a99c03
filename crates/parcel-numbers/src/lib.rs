//! parcelguard's privacy-number core (AXB binding), pure: no I/O, no clock.
//!
//! A courier (phone **A**) and a recipient (phone **B**) call each other
//! through a virtual number **X** from a per-tenant, per-city pool. The
//! database is the authority on which bindings exist (it enforces that no
//! phone appears twice on one X, and that an extension is used once); this
//! crate holds what a process needs to answer the telephony switch on the
//! call path without a database round trip:
//!
//! - [`Router`]: an in-memory index `(tenant, X, extension, caller) →
//!   binding`, mirroring the database's slot rows, answering
//!   [`Router::route`] in well under a microsecond;
//! - the refusal rules ([`Refusal`]): unknown number, unknown caller,
//!   extension required, expired, and the one restricted direction (after
//!   the delivery window, only the recipient may still call back, until the
//!   grace period ends);
//! - the allocation order ([`Router::candidates`]: least-loaded numbers
//!   first) and pool files ([`parse_pool`]).
//!
//! Phones never appear here in clear: callers are keyed hashes (the
//! vault's blind index) and each side's number is a sealed blob that only
//! the vault can open.

#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// Length of a caller hash (the vault's blind index).
pub const HASH_LEN: usize = 16;

/// A keyed hash of a normalised phone number.
pub type PhoneHash = [u8; HASH_LEN];

/// Largest extension (four digits).
pub const MAX_EXT: u16 = 9999;

/// One live AXB binding, as the database holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    /// Tenant.
    pub tenant: String,
    /// Binding id (random, no meaning).
    pub id: String,
    /// The shipment it serves.
    pub waybill_no: String,
    /// The courier (principal id) who is side A.
    pub courier: String,
    /// The pool's city the number came from.
    pub city: String,
    /// The virtual number X.
    pub number: String,
    /// Extension, `0` when the binding has none.
    pub ext: u16,
    /// Keyed hash of A's phone.
    pub a_hash: PhoneHash,
    /// Keyed hash of B's phone.
    pub b_hash: PhoneHash,
    /// A's phone, sealed by the vault.
    pub a_sealed: Vec<u8>,
    /// B's phone, sealed by the vault.
    pub b_sealed: Vec<u8>,
    /// The data-key period the sealed phones use.
    pub period: String,
    /// Unix seconds.
    pub created_at: i64,
    /// End of the delivery window: from here on only B may call.
    pub window_end: i64,
    /// End of the grace period: from here on nobody may call.
    pub expires_at: i64,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes and sealed phones are not personal data, but there is no
        // reason to print them either.
        f.debug_struct("Binding")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("waybill_no", &self.waybill_no)
            .field("number", &self.number)
            .field("ext", &self.ext)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Which side of a binding a phone is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The courier.
    A,
    /// The recipient.
    B,
}

impl Side {
    /// The other side.
    #[must_use]
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// Wire name: `courier` or `recipient`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "courier",
            Side::B => "recipient",
        }
    }
}

/// Why a call is not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The dialled number is not in any pool of the tenant.
    #[error("unknown_number")]
    UnknownNumber,
    /// The caller is not a party to any binding on that number (and
    /// extension).
    #[error("unknown_caller")]
    UnknownCaller,
    /// The number serves bindings by extension only; dial one.
    #[error("extension_required")]
    ExtensionRequired,
    /// The binding's grace period is over.
    #[error("expired")]
    Expired,
    /// The delivery window is over: the courier can no longer call out,
    /// only the recipient can call back until the grace period ends.
    #[error("restricted_direction")]
    RestrictedDirection,
}

impl Refusal {
    /// The reason code the API returns.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownNumber => "unknown_number",
            Refusal::UnknownCaller => "unknown_caller",
            Refusal::ExtensionRequired => "extension_required",
            Refusal::Expired => "expired",
            Refusal::RestrictedDirection => "restricted_direction",
        }
    }
}

/// A call the router would connect.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The binding.
    pub binding: Arc<Binding>,
    /// Which side is calling (the call goes to the other).
    pub caller: Side,
}

impl Routed {
    /// The sealed phone to connect to.
    #[must_use]
    pub fn target_sealed(&self) -> &[u8] {
        match self.caller {
            Side::A => &self.binding.b_sealed,
            Side::B => &self.binding.a_sealed,
        }
    }
}

/// Decides whether `binding` connects a call from `caller` at `now`.
///
/// # Errors
/// [`Refusal::Expired`] after the grace period, and
/// [`Refusal::RestrictedDirection`] for the courier after the window.
pub fn check(binding: &Binding, caller: Side, now: i64) -> Result<(), Refusal> {
    if now >= binding.expires_at {
        return Err(Refusal::Expired);
    }
    if caller == Side::A && now >= binding.window_end {
        return Err(Refusal::RestrictedDirection);
    }
    Ok(())
}

#[derive(Debug, Default)]
struct NumberEntry {
    city: String,
    /// `(ext, caller hash)` → binding: two entries per binding.
    slots: HashMap<(u16, PhoneHash), Arc<Binding>>,
    /// Bindings on this number that use an extension.
    ext_bindings: usize,
    /// Bindings on this number.
    bindings: usize,
}

#[derive(Debug, Default)]
struct Index {
    numbers: HashMap<String, HashMap<String, NumberEntry>>,
    /// `(tenant, city)` → its numbers, in the order they were added.
    cities: HashMap<(String, String), Vec<String>>,
    by_id: HashMap<(String, String), Arc<Binding>>,
    /// Bindings this process saw end, newest last (at most [`TOMBSTONES`]):
    /// an ended binding never comes back, so a notification that read it
    /// just before it ended cannot put it back in the index.
    ended: std::collections::HashSet<(String, String)>,
    ended_order: std::collections::VecDeque<(String, String)>,
}

/// How many ended bindings the router remembers (a notification's read
/// races the end by milliseconds; this covers seconds at full rate).
const TOMBSTONES: usize = 65_536;

/// How many numbers [`Router::candidates`] weighs per bind: the least
/// loaded of a few spread over the pool balances load almost as well as
/// the least loaded of all, at a cost that does not grow with the pool.
pub const SAMPLE: usize = 16;

impl Index {
    fn remove(&mut self, tenant: &str, id: &str) -> Option<Arc<Binding>> {
        let old = self.by_id.remove(&(tenant.to_owned(), id.to_owned()))?;
        if let Some(entry) = self
            .numbers
            .get_mut(tenant)
            .and_then(|n| n.get_mut(&old.number))
        {
            for hash in [old.a_hash, old.b_hash] {
                if entry
                    .slots
                    .get(&(old.ext, hash))
                    .is_some_and(|b| b.id == old.id)
                {
                    entry.slots.remove(&(old.ext, hash));
                }
            }
            entry.bindings = entry.bindings.saturating_sub(1);
            if old.ext != 0 {
                entry.ext_bindings = entry.ext_bindings.saturating_sub(1);
            }
        }
        Some(old)
    }

    fn insert(&mut self, b: Arc<Binding>) {
        self.remove(&b.tenant, &b.id);
        // The database never holds two live slots for one key; if this
        // process learns of a newer binding before the end of an older one
        // on the same key, the older one is dropped from the index.
        let stale: Vec<String> = self
            .numbers
            .get(&b.tenant)
            .and_then(|n| n.get(&b.number))
            .map(|e| {
                [b.a_hash, b.b_hash]
                    .iter()
                    .filter_map(|h| e.slots.get(&(b.ext, *h)))
                    .map(|p| p.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in stale {
            self.remove(&b.tenant, &id);
        }
        let entry = self
            .numbers
            .entry(b.tenant.clone())
            .or_default()
            .entry(b.number.clone())
            // A number known only from a binding is in no city's list
            // until the pool names it.
            .or_default();
        for hash in [b.a_hash, b.b_hash] {
            entry.slots.insert((b.ext, hash), b.clone());
        }
        entry.bindings += 1;
        if b.ext != 0 {
            entry.ext_bindings += 1;
        }
        self.by_id.insert((b.tenant.clone(), b.id.clone()), b);
    }
}

/// The in-memory routing index of one process.
///
/// It mirrors the database: the process applies its own binds and unbinds
/// at once, and other processes' changes as their notifications arrive;
/// a lookup that misses here is asked of the database before a caller is
/// refused, so a binding made elsewhere is never refused for being new.
#[derive(Debug, Default)]
pub struct Router {
    index: RwLock<Index>,
}

impl Router {
    /// An empty router.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers pool numbers of `city` (idempotent; a number moved to
    /// another city moves).
    pub fn add_numbers<'a>(
        &self,
        tenant: &str,
        city: &str,
        numbers: impl IntoIterator<Item = &'a str>,
    ) {
        let mut index = self.write();
        let Index {
            numbers: all,
            cities,
            ..
        } = &mut *index;
        let map = all.entry(tenant.to_owned()).or_default();
        for n in numbers {
            // Every entry with a city is in that city's list.
            let entry = map.entry(n.to_owned()).or_default();
            if entry.city == city {
                continue;
            }
            if !entry.city.is_empty()
                && let Some(list) = cities.get_mut(&(tenant.to_owned(), entry.city.clone()))
            {
                list.retain(|x| x != n);
            }
            entry.city = city.to_owned();
            cities
                .entry((tenant.to_owned(), city.to_owned()))
                .or_default()
                .push(n.to_owned());
        }
    }

    /// How many pool numbers the tenant has in `city`.
    #[must_use]
    pub fn pool_size(&self, tenant: &str, city: &str) -> usize {
        self.read()
            .cities
            .get(&(tenant.to_owned(), city.to_owned()))
            .map_or(0, Vec::len)
    }

    /// Adds or replaces a binding.
    pub fn insert(&self, binding: Binding) {
        let mut index = self.write();
        if !index
            .ended
            .contains(&(binding.tenant.clone(), binding.id.clone()))
        {
            index.insert(Arc::new(binding));
        }
    }

    /// Removes a binding that ended; returns it if it was indexed. It is
    /// not indexed again, whatever arrives later.
    pub fn remove(&self, tenant: &str, id: &str) -> Option<Arc<Binding>> {
        let mut index = self.write();
        let key = (tenant.to_owned(), id.to_owned());
        if index.ended.insert(key.clone()) {
            index.ended_order.push_back(key);
            if index.ended_order.len() > TOMBSTONES
                && let Some(old) = index.ended_order.pop_front()
            {
                index.ended.remove(&old);
            }
        }
        index.remove(tenant, id)
    }

    /// Replaces every binding of every tenant (after a reconnect, when
    /// notifications may have been missed). Pool numbers stay.
    pub fn replace_all(&self, bindings: Vec<Binding>) {
        let mut index = self.write();
        index.by_id.clear();
        for numbers in index.numbers.values_mut() {
            for e in numbers.values_mut() {
                e.slots.clear();
                e.bindings = 0;
                e.ext_bindings = 0;
            }
        }
        for b in bindings {
            if !index.ended.contains(&(b.tenant.clone(), b.id.clone())) {
                index.insert(Arc::new(b));
            }
        }
    }

    /// A binding by id.
    #[must_use]
    pub fn get(&self, tenant: &str, id: &str) -> Option<Arc<Binding>> {
        self.read()
            .by_id
            .get(&(tenant.to_owned(), id.to_owned()))
            .cloned()
    }

    /// Number of indexed bindings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether no binding is indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `number` is one of the tenant's pool numbers.
    #[must_use]
    pub fn knows_number(&self, tenant: &str, number: &str) -> bool {
        self.read()
            .numbers
            .get(tenant)
            .is_some_and(|n| n.contains_key(number))
    }

    /// Routes a call from `caller` to `number` (with `ext` if dialled).
    ///
    /// # Errors
    /// A [`Refusal`]. [`Refusal::UnknownCaller`] and
    /// [`Refusal::ExtensionRequired`] mean "not in this index": the caller
    /// asks the database before refusing.
    pub fn route(
        &self,
        tenant: &str,
        number: &str,
        ext: Option<u16>,
        caller: &PhoneHash,
        now: i64,
    ) -> Result<Routed, Refusal> {
        let index = self.read();
        let entry = index
            .numbers
            .get(tenant)
            .and_then(|n| n.get(number))
            .ok_or(Refusal::UnknownNumber)?;
        let Some(binding) = entry.slots.get(&(ext.unwrap_or(0), *caller)) else {
            return Err(if ext.is_none() && entry.ext_bindings > 0 {
                Refusal::ExtensionRequired
            } else {
                Refusal::UnknownCaller
            });
        };
        let side = if binding.a_hash == *caller {
            Side::A
        } else {
            Side::B
        };
        check(binding, side, now)?;
        Ok(Routed {
            binding: binding.clone(),
            caller: side,
        })
    }

    /// Numbers of `city` to try for a new plain binding, least-loaded
    /// first (ties by number), leaving out those where either phone
    /// already has a slot without an extension. With `spread`, at most
    /// [`SAMPLE`] numbers are weighed, picked from positions spread over
    /// the pool from `start` (pass a random one); without, every number.
    /// The database has the last word; this only saves it attempts.
    #[must_use]
    pub fn candidates(
        &self,
        tenant: &str,
        city: &str,
        a: &PhoneHash,
        b: &PhoneHash,
        now: i64,
        spread: Option<usize>,
    ) -> Vec<String> {
        let index = self.read();
        let (Some(numbers), Some(list)) = (
            index.numbers.get(tenant),
            index.cities.get(&(tenant.to_owned(), city.to_owned())),
        ) else {
            return Vec::new();
        };
        let free = |n: &'_ String| -> Option<(usize, String)> {
            numbers.get(n).and_then(|e| {
                // An expired binding still holds its slots until it is
                // ended; the database ends it when it is in the way.
                let ok = [a, b].iter().all(|h| {
                    e.slots
                        .get(&(0, **h))
                        .is_none_or(|bound| bound.expires_at <= now)
                });
                ok.then(|| (e.bindings, n.clone()))
            })
        };
        let mut out: Vec<(usize, String)> = match spread {
            Some(start) if list.len() > SAMPLE => {
                let step = list.len() / SAMPLE;
                (0..SAMPLE)
                    .filter_map(|i| free(&list[(start + i * step) % list.len()]))
                    .collect()
            }
            _ => list.iter().filter_map(free).collect(),
        };
        out.sort();
        out.into_iter().map(|(_, n)| n).collect()
    }

    /// The tenant's numbers of `city`, least-loaded first, for extension
    /// mode (every number qualifies).
    #[must_use]
    pub fn all_numbers(&self, tenant: &str, city: &str) -> Vec<String> {
        let index = self.read();
        let (Some(numbers), Some(list)) = (
            index.numbers.get(tenant),
            index.cities.get(&(tenant.to_owned(), city.to_owned())),
        ) else {
            return Vec::new();
        };
        let mut out: Vec<(usize, &String)> = list
            .iter()
            .filter_map(|n| numbers.get(n).map(|e| (e.bindings, n)))
            .collect();
        out.sort();
        out.into_iter().map(|(_, n)| n.clone()).collect()
    }
}

/// One line of a pool file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLine {
    /// 1-based line number.
    pub line: usize,
    /// City (as in addresses, e.g. `北京市`).
    pub city: String,
    /// The number as written (normalise it before use).
    pub number: String,
}

/// A pool file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PoolError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: &'static str,
}

/// Parses a pool file: one `city,number` per line; blank lines, lines
/// starting with `#`, and a `city,number` header are skipped.
///
/// # Errors
/// The first malformed line.
pub fn parse_pool(text: &str) -> Result<Vec<PoolLine>, PoolError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim().trim_start_matches('\u{feff}');
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((city, number)) = l.split_once(',') else {
            return Err(PoolError {
                line,
                message: "expected `city,number`",
            });
        };
        let (city, number) = (city.trim(), number.trim());
        if line == 1 && city.eq_ignore_ascii_case("city") {
            continue;
        }
        if city.is_empty() || city.chars().count() > 32 {
            return Err(PoolError {
                line,
                message: "city must be 1 to 32 characters",
            });
        }
        if number.is_empty() || number.contains(',') {
            return Err(PoolError {
                line,
                message: "expected one number after the city",
            });
        }
        out.push(PoolLine {
            line,
            city: city.to_owned(),
            number: number.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests;
