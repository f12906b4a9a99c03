//! Insider-risk detection: catch the employee who harvests customer data.
//!
//! Pure: events in, alerts out, no I/O. The server feeds it every access as
//! it happens; `parcelguard watch` replays other systems' access logs
//! through the same [`Detector`].
//!
//! - [`event`]: the access event and its JSON-lines form;
//! - [`detector`]: per-actor state (bounded, keyed by actor, so a stream
//!   can be partitioned by actor), hourly scoring against own history and
//!   peers, the daily alert budget, alerts with their reasons;
//! - [`eval`]: recall within the budget and time to alert against ground
//!   truth, for the simulator's scenarios.
#![deny(missing_docs)]

pub mod detector;
pub mod eval;
pub mod event;

pub use detector::{Alert, Config, Detector, EvidenceKind, Severity, Signal, Stats};
pub use event::{AccessEvent, Action, EventError, parse_line, parse_rfc3339_ms};

#[cfg(test)]
mod tests;
