//! parcelguard's key store.
//!
//! A *root key* (256 random bits) is held by a [`KeyProvider`]: a key file in
//! the data directory (created by `parcelguard init`, mode 0600) or an
//! environment variable (for containers whose secret manager injects it).
//! Callers never see the root key; they ask for a key derived for a named
//! purpose (HKDF-SHA256), so a key used to hash scanner findings can never be
//! confused with one that wraps vault data keys. Every key in memory lives in a
//! [`SecretKey`], which is zeroized on drop and never printed.
#![deny(missing_docs)]

mod file;
mod kek;
mod pkcs11;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

pub use file::{KEK_DIR, KEY_DIR, LocalKeyFile, ROOT_KEY_FILE, init_local};
pub use pkcs11::Pkcs11Key;

/// Length of every key in bytes.
pub const KEY_LEN: usize = 32;

/// The name of the environment variable read by [`EnvKey::from_default_var`].
pub const DEFAULT_ENV_VAR: &str = "PARCELGUARD_ROOT_KEY";

/// Errors from the key store. They never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Keys already exist where `init` would write them.
    #[error(
        "{path}: a key already exists; refusing to overwrite it (move it away or use another --data-dir)"
    )]
    AlreadyExists {
        /// The existing key file.
        path: String,
    },
    /// No key was found where one was expected.
    #[error("{path}: no key found; run `parcelguard init` first")]
    Missing {
        /// Where the key was looked for.
        path: String,
    },
    /// A key file or variable is not in the expected format.
    #[error("{location}: malformed key: {reason}")]
    Malformed {
        /// File path (with line) or environment variable name.
        location: String,
        /// What is wrong, without the key itself.
        reason: String,
    },
    /// A key file is readable by other users.
    #[error("{path}: key file permissions are {mode:o}; they must be 0600 (run `chmod 600`)")]
    Permissions {
        /// The key file.
        path: String,
        /// Its current mode bits.
        mode: u32,
    },
    /// A key-encryption key version is not held by this provider.
    #[error("key-encryption key version {version} is not available from {provider}")]
    UnknownKek {
        /// The version asked for.
        version: u32,
        /// Where it was looked for.
        provider: String,
    },
    /// The provider cannot make new key-encryption keys by itself.
    #[error("{provider} cannot create key-encryption keys: {hint}")]
    CannotCreate {
        /// The provider.
        provider: String,
        /// What the operator should do instead.
        hint: String,
    },
    /// A cryptographic operation failed (authentication failure, bad length).
    #[error("key store: failed {what}")]
    Crypto {
        /// What was being done.
        what: String,
    },
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A 256-bit secret key, zeroized on drop and redacted in `Debug`.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    /// Wraps raw bytes. The caller should zeroize its own copy.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Generates a fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// The key bytes, for handing to a cipher or MAC inside this process.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.0.as_slice()))
    }

    fn from_base64(text: &str, location: &str) -> Result<Self, KeyError> {
        let malformed = |reason: &str| KeyError::Malformed {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        let decoded = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| malformed("not valid base64"))?,
        );
        let bytes: [u8; KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| malformed("expected 32 bytes after base64 decoding"))?;
        Ok(Self::from_bytes(bytes))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Something that holds a root key and derives purpose-bound keys from it.
///
/// Implementations keep the root key to themselves: a hardware-backed provider
/// would derive inside the token.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// A short description of where the key lives (no secrets).
    fn describe(&self) -> String;

    /// Derives the key for `purpose` (for example `"scan/redact-hmac"`).
    fn derive(&self, purpose: &str) -> Result<SecretKey, KeyError>;

    /// A public identifier of the root key, safe to log and store beside data
    /// it protects, so a later run can tell which key it needs.
    fn key_id(&self) -> Result<String, KeyError> {
        let id = self.derive("parcelguard/key-id")?;
        Ok(id.expose()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// The versions of key-encryption keys this provider holds, ascending.
    fn kek_versions(&self) -> Result<Vec<u32>, KeyError>;

    /// Makes a new key-encryption key and returns its version (one more than
    /// the highest existing one).
    fn create_kek(&self) -> Result<u32, KeyError>;

    /// Wraps a data key under KEK `version`, binding `aad`.
    fn wrap(&self, version: u32, key: &SecretKey, aad: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Unwraps a data key wrapped by [`KeyProvider::wrap`].
    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey, KeyError>;

    /// Destroys KEK `version` so that nothing it wrapped can be unwrapped
    /// again. Callers re-wrap everything first (see the vault's rotation).
    fn destroy_kek(&self, version: u32) -> Result<(), KeyError>;
}

/// Derives `purpose`'s key from a root key with HKDF-SHA256.
fn hkdf_derive(root: &SecretKey, purpose: &str) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"parcelguard v1"), root.expose());
    let mut out = [0u8; KEY_LEN];
    // HKDF-SHA256 can produce up to 255 * 32 bytes; 32 always fits.
    if hk.expand(purpose.as_bytes(), &mut out).is_err() {
        unreachable!("hkdf output length 32 is always valid");
    }
    let key = SecretKey::from_bytes(out);
    out.zeroize();
    key
}

/// A root key read from an environment variable holding its base64 encoding.
///
/// Its key-encryption keys are derived from the root key (`vault/kek/v<N>`)
/// for versions 1 up to the number in `<VAR>_KEK_VERSION` (default 1): an
/// operator rotates by raising that number, and retires old versions only by
/// rotating the root key itself, since a derived key can always be derived
/// again. Deployments that need to destroy KEKs use the key file.
#[derive(Debug)]
pub struct EnvKey {
    var: String,
    root: SecretKey,
    kek_max: u32,
}

impl EnvKey {
    /// Reads the root key from `var`.
    pub fn from_var(var: &str) -> Result<Self, KeyError> {
        let value = Zeroizing::new(std::env::var(var).map_err(|_| KeyError::Missing {
            path: format!("environment variable {var}"),
        })?);
        let root = SecretKey::from_base64(&value, &format!("environment variable {var}"))?;
        let version_var = format!("{var}_KEK_VERSION");
        let kek_max = match std::env::var(&version_var) {
            Ok(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| KeyError::Malformed {
                    location: format!("environment variable {version_var}"),
                    reason: "expected a whole number of at least 1".to_owned(),
                })?,
            Err(_) => 1,
        };
        Ok(Self {
            var: var.to_owned(),
            root,
            kek_max,
        })
    }

    /// Reads the root key from [`DEFAULT_ENV_VAR`].
    pub fn from_default_var() -> Result<Self, KeyError> {
        Self::from_var(DEFAULT_ENV_VAR)
    }
}

impl KeyProvider for EnvKey {
    fn describe(&self) -> String {
        format!("environment variable {}", self.var)
    }

    fn derive(&self, purpose: &str) -> Result<SecretKey, KeyError> {
        Ok(hkdf_derive(&self.root, purpose))
    }

    fn kek_versions(&self) -> Result<Vec<u32>, KeyError> {
        Ok((1..=self.kek_max).collect())
    }

    fn create_kek(&self) -> Result<u32, KeyError> {
        Err(KeyError::CannotCreate {
            provider: self.describe(),
            hint: format!(
                "set {}_KEK_VERSION to {} and restart",
                self.var,
                self.kek_max + 1
            ),
        })
    }

    fn wrap(&self, version: u32, key: &SecretKey, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        kek::wrap_with(&self.env_kek(version)?, key, aad)
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey, KeyError> {
        kek::unwrap_with(&self.env_kek(version)?, wrapped, aad)
    }

    fn destroy_kek(&self, _version: u32) -> Result<(), KeyError> {
        Err(KeyError::CannotCreate {
            provider: self.describe(),
            hint: "derived key-encryption keys cannot be destroyed; rotate the root key".to_owned(),
        })
    }
}

impl EnvKey {
    fn env_kek(&self, version: u32) -> Result<SecretKey, KeyError> {
        if version == 0 || version > self.kek_max {
            return Err(KeyError::UnknownKek {
                version,
                provider: self.describe(),
            });
        }
        Ok(hkdf_derive(&self.root, &format!("vault/kek/v{version}")))
    }
}

/// Generates a new root key and returns its base64 text, for operators who
/// put it in a secret manager and hand it over in [`DEFAULT_ENV_VAR`].
pub fn generate_root_key_base64() -> Zeroizing<String> {
    SecretKey::generate().to_base64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose_and_are_stable() {
        let root = SecretKey::from_bytes([7u8; KEY_LEN]);
        let a1 = hkdf_derive(&root, "a");
        let a2 = hkdf_derive(&root, "a");
        let b = hkdf_derive(&root, "b");
        assert_eq!(a1.expose(), a2.expose());
        assert_ne!(a1.expose(), b.expose());
        assert_ne!(a1.expose(), root.expose());
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = SecretKey::from_bytes([0xAB; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn base64_round_trip_and_errors() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        let back = SecretKey::from_base64(&text, "test").unwrap();
        assert_eq!(key.expose(), back.expose());
        let err = SecretKey::from_base64("AAAA", "PARCELGUARD_ROOT_KEY").unwrap_err();
        assert!(err.to_string().contains("PARCELGUARD_ROOT_KEY"));
        assert!(err.to_string().contains("32 bytes"));
        assert!(SecretKey::from_base64("!!!", "x").is_err());
    }
}
