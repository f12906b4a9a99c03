//! Field encryption, blind indexes and waybill QR tokens.
//!
//! - A field is sealed with AES-256-GCM under its tenant-and-period data key;
//!   the associated data binds tenant, waybill, party and field, so a
//!   ciphertext copied to another row or column fails to open. Layout:
//!   `0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! - A blind index is HMAC-SHA256 under a per-tenant key of a kind tag and
//!   the normalised value: equal values match, nothing is decryptable.
//! - A QR token is `PGQ1.` and the base64url of an AES-256-GCM box holding
//!   tenant, waybill number and issue time, under a key only parcelguard holds.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use parcel_keys::{KeyProvider, SecretKey};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::model::{Field, Party};

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypts and decrypts fields under one data key.
pub struct FieldCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher(<redacted>)")
    }
}

fn field_aad(tenant: &str, waybill: &str, party: Party, field: Field) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + tenant.len() + waybill.len());
    aad.extend_from_slice(b"parcelguard/field/v1\0");
    for part in [tenant, waybill, party.as_str(), field.as_str()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

impl FieldCipher {
    /// A cipher for `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }

    /// Seals `plaintext` as the `field` of `party` on `waybill`.
    pub fn seal(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        field: Field,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let aad = field_aad(tenant, waybill, party, field);
        self.seal_aad(&aad, plaintext, || {
            format!("{}.{}", party.as_str(), field.as_str())
        })
    }

    /// Opens a sealed field; fails on any change to blob, key or binding.
    pub fn open(
        &self,
        tenant: &str,
        waybill: &str,
        party: Party,
        field: Field,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let aad = field_aad(tenant, waybill, party, field);
        self.open_aad(&aad, blob, || {
            format!("{}.{}", party.as_str(), field.as_str())
        })
    }

    /// Seals a value that is not a shipment field (a binding's phone, an
    /// employee's phone) under `label`, which it can only be opened with.
    pub fn seal_labeled(
        &self,
        tenant: &str,
        label: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        self.seal_aad(&labeled_aad(tenant, label), plaintext, || label.to_owned())
    }

    /// Opens what [`FieldCipher::seal_labeled`] sealed under `label`.
    pub fn open_labeled(
        &self,
        tenant: &str,
        label: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.open_aad(&labeled_aad(tenant, label), blob, || label.to_owned())
    }

    /// `FORMAT_V1 ‖ nonce ‖ AES-256-GCM(plaintext, aad)`; `what` names the
    /// value in an error.
    fn seal_aad(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        what: impl Fn() -> String,
    ) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Tampered { what: what() })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_aad(
        &self,
        aad: &[u8],
        blob: &[u8],
        what: impl Fn() -> String,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != FORMAT_V1 {
            return Err(VaultError::Tampered { what: what() });
        }
        let (nonce, sealed) = blob[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered { what: what() })
    }
}

fn labeled_aad(tenant: &str, label: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + tenant.len() + label.len());
    aad.extend_from_slice(b"parcelguard/labeled/v1\0");
    for part in [tenant, label] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// What a blind index is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlindKind {
    /// Normalised phone digits.
    Phone,
    /// Upper-case resident ID number.
    IdNumber,
    /// Normalised name.
    Name,
}

impl BlindKind {
    fn tag(self) -> &'static [u8] {
        match self {
            BlindKind::Phone => b"phone",
            BlindKind::IdNumber => b"id_number",
            BlindKind::Name => b"name",
        }
    }
}

/// Length of a stored blind index (truncated HMAC-SHA256).
pub const BLIND_LEN: usize = 16;

/// Computes blind indexes for one tenant.
pub struct BlindIndexer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexer(<redacted>)")
    }
}

impl BlindIndexer {
    /// The indexer for `tenant`, keyed from the provider's root key.
    pub fn for_tenant(keys: &dyn KeyProvider, tenant: &str) -> Result<Self, VaultError> {
        let key = keys.derive(&format!("vault/blind-index/v1/{tenant}"))?;
        Ok(Self::from_key(&key))
    }

    fn from_key(key: &SecretKey) -> Self {
        // HMAC accepts keys of any length; 32 bytes never fails.
        let mac = match <Hmac<Sha256> as Mac>::new_from_slice(key.expose()) {
            Ok(m) => m,
            Err(_) => unreachable!("hmac takes any key length"),
        };
        Self { mac }
    }

    /// The index of an already normalised value.
    pub fn index(&self, kind: BlindKind, normalized: &str) -> [u8; BLIND_LEN] {
        let mut mac = self.mac.clone();
        mac.update(kind.tag());
        mac.update(&[0]);
        mac.update(normalized.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; BLIND_LEN];
        out.copy_from_slice(&full[..BLIND_LEN]);
        out
    }
}

/// Prefix of every waybill QR token.
pub const TOKEN_PREFIX: &str = "PGQ1.";

/// Issues and opens waybill QR tokens.
pub struct TokenCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(<redacted>)")
    }
}

/// What a QR token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Tenant.
    pub tenant: String,
    /// Waybill number.
    pub waybill_no: String,
    /// Issue time (Unix seconds).
    pub issued_at: i64,
}

const TOKEN_AAD: &[u8] = b"parcelguard/qr-token/v1";

impl TokenCipher {
    /// The token cipher keyed from the provider's root key.
    pub fn new(keys: &dyn KeyProvider) -> Result<Self, VaultError> {
        let key = keys.derive("vault/qr-token/v1")?;
        Ok(Self {
            cipher: Aes256Gcm::new(key.expose().into()),
        })
    }

    /// Issues a token for a shipment.
    pub fn issue(&self, claims: &TokenClaims) -> Result<String, VaultError> {
        let mut msg = Vec::with_capacity(16 + claims.tenant.len() + claims.waybill_no.len());
        msg.extend_from_slice(&claims.issued_at.to_be_bytes());
        msg.extend_from_slice(&(claims.tenant.len() as u16).to_be_bytes());
        msg.extend_from_slice(claims.tenant.as_bytes());
        msg.extend_from_slice(claims.waybill_no.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &msg,
                    aad: TOKEN_AAD,
                },
            )
            .map_err(|_| VaultError::BadToken)?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        Ok(format!("{TOKEN_PREFIX}{}", B64URL.encode(raw)))
    }

    /// Opens a token; any alteration fails with [`VaultError::BadToken`].
    pub fn open(&self, token: &str) -> Result<TokenClaims, VaultError> {
        let body = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(VaultError::BadToken)?;
        let raw = B64URL.decode(body).map_err(|_| VaultError::BadToken)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(VaultError::BadToken);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let msg = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: TOKEN_AAD,
                },
            )
            .map_err(|_| VaultError::BadToken)?;
        let bad = || VaultError::BadToken;
        let issued_at = i64::from_be_bytes(
            msg.get(..8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let tlen = u16::from_be_bytes(
            msg.get(8..10)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let tenant =
            std::str::from_utf8(msg.get(10..10 + tlen).ok_or_else(bad)?).map_err(|_| bad())?;
        let waybill =
            std::str::from_utf8(msg.get(10 + tlen..).ok_or_else(bad)?).map_err(|_| bad())?;
        Ok(TokenClaims {
            tenant: tenant.to_owned(),
            waybill_no: waybill.to_owned(),
            issued_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_round_trip_and_tamper() {
        let c = FieldCipher::new(&SecretKey::generate());
        let blob = c
            .seal("t1", "SF1", Party::Recipient, Field::Phone, b"13812345678")
            .unwrap();
        let open = |t: &str, w: &str, p: Party, f: Field, b: &[u8]| c.open(t, w, p, f, b);
        assert_eq!(
            open("t1", "SF1", Party::Recipient, Field::Phone, &blob)
                .unwrap()
                .as_slice(),
            b"13812345678"
        );
        // Moved to another tenant, waybill, party or field: fails.
        assert!(open("t2", "SF1", Party::Recipient, Field::Phone, &blob).is_err());
        assert!(open("t1", "SF2", Party::Recipient, Field::Phone, &blob).is_err());
        assert!(open("t1", "SF1", Party::Sender, Field::Phone, &blob).is_err());
        assert!(open("t1", "SF1", Party::Recipient, Field::Name, &blob).is_err());
        // Truncated, flipped, wrong version byte: fails.
        assert!(
            open(
                "t1",
                "SF1",
                Party::Recipient,
                Field::Phone,
                &blob[..blob.len() - 1]
            )
            .is_err()
        );
        assert!(open("t1", "SF1", Party::Recipient, Field::Phone, &blob[..10]).is_err());
        let mut flipped = blob.clone();
        flipped[15] ^= 0x40;
        assert!(open("t1", "SF1", Party::Recipient, Field::Phone, &flipped).is_err());
        let mut version = blob.clone();
        version[0] = 2;
        assert!(open("t1", "SF1", Party::Recipient, Field::Phone, &version).is_err());
        // Another key: fails.
        let other = FieldCipher::new(&SecretKey::generate());
        assert!(
            other
                .open("t1", "SF1", Party::Recipient, Field::Phone, &blob)
                .is_err()
        );
        // Error text names the field only.
        let err = open("t2", "SF1", Party::Recipient, Field::Phone, &blob)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "ciphertext of recipient.phone failed authentication");
    }

    #[test]
    fn blind_index_is_keyed_and_kind_separated() {
        let a = BlindIndexer::from_key(&SecretKey::from_bytes([1; 32]));
        let b = BlindIndexer::from_key(&SecretKey::from_bytes([2; 32]));
        let x = a.index(BlindKind::Phone, "13812345678");
        assert_eq!(x, a.index(BlindKind::Phone, "13812345678"));
        assert_ne!(x, b.index(BlindKind::Phone, "13812345678"));
        assert_ne!(x, a.index(BlindKind::Name, "13812345678"));
        assert_ne!(x, a.index(BlindKind::Phone, "13812345679"));
    }

    #[derive(Debug)]
    struct Fixed;
    impl KeyProvider for Fixed {
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn derive(&self, purpose: &str) -> Result<SecretKey, parcel_keys::KeyError> {
            let mut k = [0u8; 32];
            k[..purpose.len().min(32)]
                .copy_from_slice(&purpose.as_bytes()[..purpose.len().min(32)]);
            Ok(SecretKey::from_bytes(k))
        }
        fn kek_versions(&self) -> Result<Vec<u32>, parcel_keys::KeyError> {
            Ok(vec![])
        }
        fn create_kek(&self) -> Result<u32, parcel_keys::KeyError> {
            unreachable!()
        }
        fn wrap(&self, _: u32, _: &SecretKey, _: &[u8]) -> Result<Vec<u8>, parcel_keys::KeyError> {
            unreachable!()
        }
        fn unwrap(&self, _: u32, _: &[u8], _: &[u8]) -> Result<SecretKey, parcel_keys::KeyError> {
            unreachable!()
        }
        fn destroy_kek(&self, _: u32) -> Result<(), parcel_keys::KeyError> {
            unreachable!()
        }
    }

    #[test]
    fn qr_tokens() {
        let t = TokenCipher::new(&Fixed).unwrap();
        let claims = TokenClaims {
            tenant: "acme".into(),
            waybill_no: "SF1234567890123".into(),
            issued_at: 1_790_000_000,
        };
        let token = t.issue(&claims).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(!token.contains("SF1234567890123") && !token.contains("acme"));
        assert_eq!(t.open(&token).unwrap(), claims);
        let mut bad = token.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            t.open(std::str::from_utf8(&bad).unwrap()),
            Err(VaultError::BadToken)
        ));
        assert!(t.open("PGQ1.").is_err());
        assert!(t.open("garbage").is_err());
    }

    proptest::proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), tenant in "[a-z]{1,8}", waybill in "[A-Z0-9]{1,20}") {
            let c = FieldCipher::new(&SecretKey::from_bytes([9; 32]));
            let blob = c.seal(&tenant, &waybill, Party::Sender, Field::Address, &data).unwrap();
            let opened = c.open(&tenant, &waybill, Party::Sender, Field::Address, &blob).unwrap();
            proptest::prop_assert_eq!(opened.as_slice(), data.as_slice());
            let moved = waybill.clone() + "0";
            proptest::prop_assert!(c.open(&tenant, &moved, Party::Sender, Field::Address, &blob).is_err());
        }
    }
}
