//! parcelguard's vault core: everything about shipments and their personal
//! data that does not depend on where it is stored or how it is asked for.
//!
//! - [`model`]: the input shape, validation with field paths, the lifecycle.
//! - [`address`]: one-line addresses split with the division table.
//! - [`mask`]: GB/T 41833-2022 masked views and profile checks.
//! - [`crypto`]: AES-256-GCM field encryption, blind indexes, QR tokens.
//! - [`store`]: the storage trait (SQLite and PostgreSQL live in `parcel-store`).
//! - [`reveal`]: purpose-bound reveal (Cedar decision, quotas, log first).
//! - [`Vault`]: the service tying them together with the key store: create,
//!   search, update, erase, retention and key rotation.
//!
//! No I/O happens here except through the [`store::Store`] and
//! [`parcel_keys::KeyProvider`] the caller passes in; nothing here knows HTTP.
#![deny(missing_docs)]

pub mod address;
pub mod crypto;
mod error;
pub mod mask;
pub mod model;
pub mod numbers;
mod quota;
pub mod reveal;
pub mod store;
mod vault;

pub use error::{FieldError, VaultError};
pub use vault::{
    Created, ErasureReport, PersonKey, RetentionReport, RotationReport, Vault, VaultOptions,
    period_of,
};
