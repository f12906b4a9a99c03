//! API keys: `pgk_` and 43 base64url characters (256 random bits), shown
//! once, stored only as SHA-256. Requests carry them as
//! `Authorization: Bearer`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

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

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Resolves a single-sign-on token to its principal in `tenant`: the
/// verified claim names the principal, which must exist and be active.
pub fn authenticate_oidc(
    store: &dyn Store,
    verifier: &crate::oidc::OidcVerifier,
    tenant: &str,
    token: &str,
) -> Result<Principal, AuthError> {
    let id = verifier.verify(token).map_err(|e| {
        tracing::info!(error = %e, "single-sign-on token refused");
        AuthError::Unauthenticated
    })?;
    let principal = store
        .get_principal(tenant, &id)?
        .ok_or(AuthError::Unauthenticated)?;
    if principal.status != "active" {
        return Err(AuthError::Suspended);
    }
    Ok(principal)
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

/// How long a verified key is trusted without asking the database again:
/// revocation, expiry and suspension take effect within this time.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(2);

/// Recently verified keys, by the SHA-256 of their secret (never the secret).
#[derive(Debug, Default)]
pub struct AuthCache {
    entries: RwLock<HashMap<Vec<u8>, (Principal, Instant)>>,
}

impl AuthCache {
    fn key(header: Option<&str>) -> Option<Vec<u8>> {
        // API keys and verified SSO tokens alike, by their hash. A cached
        // token is trusted for AUTH_CACHE_TTL, well inside its expiry leeway.
        bearer(header)
            .filter(|t| t.starts_with(KEY_PREFIX) || crate::oidc::looks_like_jwt(t))
            .map(hash_secret)
    }

    /// The principal of a key verified less than [`AUTH_CACHE_TTL`] ago.
    pub fn get(&self, header: Option<&str>) -> Option<Principal> {
        let key = Self::key(header)?;
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&key)
            .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    /// Remembers a verified key.
    pub fn put(&self, header: Option<&str>, principal: &Principal) {
        let Some(key) = Self::key(header) else { return };
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < AUTH_CACHE_TTL);
        }
        map.insert(key, (principal.clone(), Instant::now()));
    }

    /// Drops every cached key of one principal (after a suspension or a
    /// role change), so the change applies to its next request here.
    pub fn forget_principal(&self, tenant: &str, id: &str) {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (p, _)| !(p.tenant == tenant && p.id == id));
    }

    /// Drops everything (after a key is revoked).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: &str) -> Principal {
        Principal {
            tenant: "acme".into(),
            id: id.into(),
            role: "courier".into(),
            station: None,
            status: "active".into(),
            created_at: 0,
        }
    }

    #[test]
    fn cache_answers_only_for_the_key_it_saw() {
        let cache = AuthCache::default();
        let a = new_api_key("acme", "E1", 0, None).secret;
        let b = new_api_key("acme", "E2", 0, None).secret;
        let (ha, hb) = (format!("Bearer {a}"), format!("Bearer {b}"));
        assert_eq!(cache.get(Some(&ha)), None);
        cache.put(Some(&ha), &principal("E1"));
        assert_eq!(cache.get(Some(&ha)).map(|p| p.id), Some("E1".to_owned()));
        assert_eq!(cache.get(Some(&hb)), None);
        assert_eq!(cache.get(Some(a.as_str())), None, "no Bearer prefix");
        assert_eq!(cache.get(None), None);
    }
}
