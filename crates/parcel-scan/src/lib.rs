//! parcelguard's scanner I/O around the pure `parcel-detect` core.
//!
//! - [`input`]: which files to read (directory walks honouring ignore files,
//!   globs, hidden files, stdin) and how (gzip detection, binary skipping);
//! - [`chunk`]: bounded-memory reading in line-aligned chunks, with an
//!   overlap only when a single line outgrows a chunk;
//! - [`scan`]: the parallel pipeline (one reader, N scanners, results put back
//!   in input order);
//! - [`output`]: JSONL, SARIF and the human table;
//! - [`redact`]: streaming redaction that keeps JSON and CSV structure.
#![deny(missing_docs)]

pub mod chunk;
pub mod input;
pub mod output;
pub mod redact;
pub mod scan;

/// Errors that stop a whole run (per-file problems are [`scan::FileIssue`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file, or `<stdin>`/`<stdout>`.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A glob given with `--glob` is invalid.
    #[error("invalid --glob `{glob}`: {reason}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        reason: String,
    },
    /// Redaction failed.
    #[error("redaction failed: {0}")]
    Redact(#[from] parcel_detect::mask::RedactError),
}
