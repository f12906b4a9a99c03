//! The PKCS#11 provider against SoftHSM2 (Debian package `softhsm2`).
//!
//! `PARCELGUARD_TEST_SOFTHSM` holds `MODULE|TOKEN LABEL|PIN` of an
//! initialised token (`.ci/run` makes a fresh one, with `SOFTHSM2_CONF`
//! pointing at a temporary token directory). Without it the test says so
//! and passes; with it, any failure fails.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions"
)]

use parcel_keys::{KeyError, KeyProvider, Pkcs11Key, SecretKey};

fn token() -> Option<Pkcs11Key> {
    let spec = std::env::var("PARCELGUARD_TEST_SOFTHSM")
        .ok()
        .filter(|s| !s.is_empty());
    let Some(spec) = spec else {
        eprintln!("PARCELGUARD_TEST_SOFTHSM is not set: skipping the SoftHSM2 test");
        return None;
    };
    let mut parts = spec.splitn(3, '|');
    let (module, label, pin) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    Some(Pkcs11Key::open(std::path::Path::new(module), label, pin).unwrap())
}

#[test]
fn softhsm_keys_wrap_rotate_destroy() {
    let Some(hsm) = token() else { return };
    hsm.init().unwrap();
    assert!(!hsm.init().unwrap(), "second init must find the keys");
    let versions = hsm.kek_versions().unwrap();
    let current = *versions.last().unwrap();

    let dek = SecretKey::generate();
    let wrapped = hsm.wrap(current, &dek, b"acme|2026-11").unwrap();
    assert_eq!(
        hsm.unwrap(current, &wrapped, b"acme|2026-11")
            .unwrap()
            .expose(),
        dek.expose()
    );
    assert!(
        hsm.unwrap(current, &wrapped, b"evil|2026-11").is_err(),
        "binding"
    );
    let mut flipped = wrapped.clone();
    flipped[20] ^= 1;
    assert!(
        hsm.unwrap(current, &flipped, b"acme|2026-11").is_err(),
        "tamper"
    );

    let next = hsm.create_kek().unwrap();
    assert_eq!(next, current + 1);
    let rewrapped = hsm.wrap(next, &dek, b"acme|2026-11").unwrap();
    hsm.destroy_kek(current).unwrap();
    assert!(matches!(
        hsm.unwrap(current, &wrapped, b"acme|2026-11"),
        Err(KeyError::UnknownKek { .. })
    ));
    assert_eq!(
        hsm.unwrap(next, &rewrapped, b"acme|2026-11")
            .unwrap()
            .expose(),
        dek.expose()
    );

    let a = hsm.derive("vault/blind-index/v1/acme").unwrap();
    assert_eq!(
        a.expose(),
        hsm.derive("vault/blind-index/v1/acme").unwrap().expose()
    );
    assert_ne!(
        a.expose(),
        hsm.derive("vault/qr-token/v1").unwrap().expose()
    );
    assert!(!format!("{hsm:?}").contains("1234"));
}
