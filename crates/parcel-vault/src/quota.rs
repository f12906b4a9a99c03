//! Reveal-quota leases: a process takes several of a principal's reveals
//! from the store in one count and hands them out itself, so most reveals
//! cost no write (and no wait for the store's writer).
//!
//! The quota still holds across processes: the store's count is the sum
//! of every lease granted, never more than the limit, so reveals handed
//! out can only be fewer. What a lease costs: reveals leased but unused
//! when the process stops, or when the window ends or the limit changes
//! (an insider-risk response tightening it drops the lease at once), are
//! lost to the principal for that window. Stores lease at most a quarter
//! of the room left, so the loss stays small as the limit nears.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::store::QuotaWindow;

/// Leases above this many principals drop those of past windows.
const PRUNE_AT: usize = 16_384;

/// The leases this process holds, by tenant and principal.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<(String, String), Lease>>,
}

#[derive(Debug)]
struct Lease {
    /// The windows (with their limits) the reveals were taken from.
    windows: Vec<QuotaWindow>,
    /// Reveals taken from the store and not yet handed out.
    left: i64,
}

impl Leases {
    /// Hands out one leased reveal for exactly these windows and limits;
    /// `false` when none is held (a lease for other windows or limits is
    /// dropped).
    pub(crate) fn take(&self, tenant: &str, principal: &str, windows: &[QuotaWindow]) -> bool {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (tenant.to_owned(), principal.to_owned());
        match held.get_mut(&key) {
            Some(l) if l.windows == windows && l.left > 0 => {
                l.left -= 1;
                true
            }
            Some(_) => {
                held.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Keeps `left` reveals just taken from the store for these windows.
    pub(crate) fn keep(&self, tenant: &str, principal: &str, windows: &[QuotaWindow], left: i64) {
        if left <= 0 {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.len() >= PRUNE_AT {
            let first = windows.first().map_or(i64::MIN, |w| w.start);
            held.retain(|_, l| l.windows.first().is_some_and(|w| w.start >= first));
        }
        let lease = held
            .entry((tenant.to_owned(), principal.to_owned()))
            .or_insert_with(|| Lease {
                windows: windows.to_vec(),
                left: 0,
            });
        if lease.windows == windows {
            lease.left += left;
        } else {
            *lease = Lease {
                windows: windows.to_vec(),
                left,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, limit: i64) -> [QuotaWindow; 2] {
        [
            QuotaWindow {
                secs: 3600,
                start,
                limit,
            },
            QuotaWindow {
                secs: 86_400,
                start: 0,
                limit: 400,
            },
        ]
    }

    #[test]
    fn a_lease_hands_out_exactly_what_was_kept() {
        let l = Leases::default();
        assert!(!l.take("t", "E1", &w(0, 80)));
        l.keep("t", "E1", &w(0, 80), 3);
        assert!(l.take("t", "E1", &w(0, 80)));
        assert!(l.take("t", "E1", &w(0, 80)));
        assert!(l.take("t", "E1", &w(0, 80)));
        assert!(!l.take("t", "E1", &w(0, 80)));
        // Another principal's lease is its own.
        l.keep("t", "E1", &w(0, 80), 1);
        assert!(!l.take("t", "E2", &w(0, 80)));
        assert!(!l.take("u", "E1", &w(0, 80)));
    }

    #[test]
    fn a_new_window_or_a_tightened_limit_drops_the_lease() {
        let l = Leases::default();
        l.keep("t", "E1", &w(0, 80), 5);
        assert!(!l.take("t", "E1", &w(0, 20)), "tightened limit");
        assert!(!l.take("t", "E1", &w(0, 80)), "dropped, not restored");
        l.keep("t", "E1", &w(0, 80), 5);
        assert!(!l.take("t", "E1", &w(3600, 80)), "next hour");
        assert!(!l.take("t", "E1", &w(0, 80)));
    }
}
