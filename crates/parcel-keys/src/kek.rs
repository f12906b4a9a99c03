//! Key-encryption keys (KEKs): versioned keys that wrap the vault's data
//! keys with AES-256-GCM, so that a data key is only ever stored wrapped.
//!
//! A wrapped key is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`; the
//! associated data names what the key is for (tenant and period), so a wrapped
//! key copied to another row does not unwrap.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::{KEY_LEN, KeyError, SecretKey};

const NONCE_LEN: usize = 12;

/// Wraps `key` under `kek`, binding `aad`.
pub(crate) fn wrap_with(kek: &SecretKey, key: &SecretKey, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    let cipher = Aes256Gcm::new(kek.expose().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: key.expose(),
                aad,
            },
        )
        .map_err(|_| KeyError::Crypto {
            what: "wrapping a data key".to_owned(),
        })?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Unwraps a key wrapped by [`wrap_with`]; fails if the blob, the KEK or the
/// associated data differ from those used to wrap.
pub(crate) fn unwrap_with(kek: &SecretKey, blob: &[u8], aad: &[u8]) -> Result<SecretKey, KeyError> {
    let fail = || KeyError::Crypto {
        what: "unwrapping a data key (wrong key-encryption key, wrong binding or damaged blob)"
            .to_owned(),
    };
    if blob.len() != NONCE_LEN + KEY_LEN + 16 {
        return Err(fail());
    }
    let cipher = Aes256Gcm::new(kek.expose().into());
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let plain = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| fail())?,
    );
    let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| fail())?;
    Ok(SecretKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip_and_binding() {
        let kek = SecretKey::generate();
        let dek = SecretKey::generate();
        let blob = wrap_with(&kek, &dek, b"t1|2026-11").unwrap();
        assert_eq!(
            unwrap_with(&kek, &blob, b"t1|2026-11").unwrap().expose(),
            dek.expose()
        );
        assert!(unwrap_with(&kek, &blob, b"t2|2026-11").is_err());
        assert!(unwrap_with(&SecretKey::generate(), &blob, b"t1|2026-11").is_err());
        let mut flipped = blob.clone();
        flipped[20] ^= 1;
        assert!(unwrap_with(&kek, &flipped, b"t1|2026-11").is_err());
        assert!(unwrap_with(&kek, &blob[..blob.len() - 1], b"t1|2026-11").is_err());
    }
}
