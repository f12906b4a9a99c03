//! API keys: `pgk_` and 43 base64url characters (256 random bits), shown
//! once, stored only as SHA-256. Requests carry them as
//! `Authorization: Bearer`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use parcel_vault::store::{ApiKeyRecord, Principal, Store, StoreError};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "pgk_";

/// A freshly made key: the secret (show once) and what to store.
#[derive(Debug)]
pub struct NewApiKey {
    /// The secret, to hand to its owner once.
    pub secret: String,
    /// The stored record.
    pub record: ApiKeyRecord,
}

/// The SHA-256 of a key's secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Makes a new key for `principal`.
pub fn new_api_key(tenant: &str, principal: &str, now: i64, expires_at: Option<i64>) -> NewApiKey {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = format!("{KEY_PREFIX}{}", B64URL.encode(raw));
    let hash = hash_secret(&secret);
    let id = format!(
        "k_{}",
        hash[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    NewApiKey {
        secret,
        record: ApiKeyRecord {
            id,
            tenant: tenant.to_owned(),
            principal: principal.to_owned(),
            hash,
            created_at: now,
            expires_at,
            revoked_at: None,
        },
    }
}

/// Why a request was not authenticated. Deliberately coarse: the client
/// learns nothing about which keys or principals exist.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No, malformed, unknown, expired or revoked key.
    #[error("missing or invalid API key")]
    Unauthenticated,
    /// The principal is suspended.
    #[error("access denied")]
    Suspended,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a bearer token to its principal.
pub fn authenticate(
    store: &dyn Store,
    header: Option<&str>,
    now: i64,
) -> Result<Principal, AuthError> {
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(KEY_PREFIX))
        .ok_or(AuthError::Unauthenticated)?;
    let (key, principal) = store
        .find_api_key(&hash_secret(token))?
        .ok_or(AuthError::Unauthenticated)?;
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|e| e <= now) {
        return Err(AuthError::Unauthenticated);
    }
    if principal.status != "active" {
        return Err(AuthError::Suspended);
    }
    Ok(principal)
}
