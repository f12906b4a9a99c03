//! parcelguard's transparency log: every reveal, denial, search, erasure,
//! key rotation and policy change as an entry in an append-only Merkle log
//! that anyone holding the log's public key can verify offline.
//!
//! The layout follows the public standards so existing tools work with it:
//! RFC 6962 hashing (RFC 9162 §2), C2SP `tlog-checkpoint` signed with
//! Ed25519 (`signed-note`), C2SP `tlog-tiles` for hash tiles and entry
//! bundles, C2SP `tlog-cosignature`/`tlog-witness` for witnesses.
//!
//! - [`entry`]: the canonical, versioned event encoding (no personal data).
//! - [`tree`]: tiles, bundles, the incremental tree builder, proofs.
//! - [`note`]: checkpoint signing, cosignatures, k-of-n verification.
//! - [`receipt`]: one entry with its checkpoint and inclusion proof.
//! - [`witness`]: the witness's add-checkpoint rules.
//! - [`verify`]: full verification of a published log.
//! - [`activity`]: an in-memory index of access entries for the console.
//! - [`log`]: the log service: group-committed durable appends over a
//!   [`log::LogStorage`], checkpoints, reads for serving.
//!
//! Nothing here does network I/O or knows HTTP; storage backends live in
//! `parcel-store`, HTTP in `parcel-server`.
#![deny(missing_docs)]

pub mod activity;
pub mod entry;
pub mod log;
pub mod note;
pub mod receipt;
pub mod tree;
pub mod verify;
pub mod witness;

pub use entry::Event;
pub use log::{Appending, Log, LogOptions, LogStorage};
pub use note::{KeyKind, NoteKey, TrustPolicy, VKey};
pub use receipt::Receipt;
pub use tlog_tiles::Hash;

/// Errors of the transparency log. Messages name indexes, paths and sizes,
/// never entry contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An entry could not be encoded or parsed.
    #[error("log entry: {0}")]
    Entry(String),
    /// A key or key name is unusable.
    #[error("log key: {0}")]
    Key(String),
    /// A signed note or checkpoint is malformed or its signatures fail.
    #[error("{0}")]
    Note(String),
    /// A proof does not verify.
    #[error("{0}")]
    Proof(String),
    /// A path is not a tile or bundle path.
    #[error("not a tile path: `{0}`")]
    Path(String),
    /// Asked for something the log does not have.
    #[error("{0}")]
    NotFound(String),
    /// Stored or served data is inconsistent (tampering, truncation).
    #[error("{0}")]
    Corrupt(String),
    /// The storage failed; appends fail closed.
    #[error("log storage: {0}")]
    Storage(String),
    /// The log is shutting down or its writer stopped.
    #[error("the log is not accepting appends: {0}")]
    Closed(String),
}
