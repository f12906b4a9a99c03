//! The PKCS#11 provider: keys live in a hardware security module (or
//! SoftHSM2) and never leave it.
//!
//! - The root is a 256-bit generic secret labelled `parcelguard-root`
//!   (sensitive, not extractable); a purpose's key is HMAC-SHA256 of
//!   `parcelguard v1|` and the purpose, computed inside the token.
//! - Key-encryption keys are AES-256 keys labelled `parcelguard-kek-v<N>`;
//!   wrapping is AES-GCM inside the token (`iv (12) ‖ ciphertext ‖ tag (16)`),
//!   so the same associated-data binding holds as for the other providers.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::{KEY_LEN, KeyError, KeyProvider, SecretKey};

const ROOT_LABEL: &str = "parcelguard-root";
const KEK_PREFIX: &str = "parcelguard-kek-v";
const IV_LEN: usize = 12;

/// A root key and KEKs held in a PKCS#11 token.
pub struct Pkcs11Key {
    describe: String,
    // Sessions are not thread-safe (PKCS#11 §5.6): one, behind a lock.
    session: Mutex<Session>,
    _ctx: Pkcs11,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("token", &self.describe)
            .finish_non_exhaustive()
    }
}

fn hsm(what: &str) -> impl FnOnce(cryptoki::error::Error) -> KeyError + '_ {
    move |e| KeyError::Crypto {
        what: format!("{what} in the PKCS#11 token ({e})"),
    }
}

impl Pkcs11Key {
    /// Opens the token labelled `token_label` through `module` and logs in
    /// with the user PIN.
    pub fn open(module: &Path, token_label: &str, pin: &str) -> Result<Self, KeyError> {
        let ctx = Pkcs11::new(module).map_err(|e| KeyError::Malformed {
            location: format!("PKCS#11 module {}", module.display()),
            reason: format!("cannot load: {e}"),
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(hsm("initialising the module"))?;
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(hsm("listing slots"))?;
        let slot = slots
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|info| info.label().trim() == token_label)
            })
            .ok_or_else(|| KeyError::Missing {
                path: format!("PKCS#11 token `{token_label}` in {}", module.display()),
            })?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(hsm("opening a session"))?;
        session
            .login(UserType::User, Some(&AuthPin::new(pin.into())))
            .map_err(hsm("logging in (check the PIN)"))?;
        Ok(Self {
            describe: format!("PKCS#11 token `{token_label}`"),
            session: Mutex::new(session),
            _ctx: ctx,
        })
    }

    fn find(&self, session: &Session, label: &str) -> Result<Option<ObjectHandle>, KeyError> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(hsm("finding a key"))?;
        Ok(found.into_iter().next())
    }

    fn generate(&self, session: &Session, label: &str, aes: bool) -> Result<(), KeyError> {
        let mut template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::ValueLen((KEY_LEN as u64).into()),
        ];
        let mechanism = if aes {
            template.extend([Attribute::Encrypt(true), Attribute::Decrypt(true)]);
            Mechanism::AesKeyGen
        } else {
            template.extend([
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Sign(true),
            ]);
            Mechanism::GenericSecretKeyGen
        };
        session
            .generate_key(&mechanism, &template)
            .map_err(hsm("generating a key"))?;
        Ok(())
    }

    /// Creates the root key and the first KEK if the token lacks them.
    /// Returns whether anything was created.
    pub fn init(&self) -> Result<bool, KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let mut created = false;
        if self.find(&session, ROOT_LABEL)?.is_none() {
            self.generate(&session, ROOT_LABEL, false)?;
            created = true;
        }
        drop(session);
        if self.kek_versions()?.is_empty() {
            self.create_kek()?;
            created = true;
        }
        Ok(created)
    }

    fn kek(&self, session: &Session, version: u32) -> Result<ObjectHandle, KeyError> {
        self.find(session, &format!("{KEK_PREFIX}{version}"))?
            .ok_or_else(|| KeyError::UnknownKek {
                version,
                provider: self.describe.clone(),
            })
    }
}

impl KeyProvider for Pkcs11Key {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn derive(&self, purpose: &str) -> Result<SecretKey, KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let root = self
            .find(&session, ROOT_LABEL)?
            .ok_or_else(|| KeyError::Missing {
                path: format!("{ROOT_LABEL} in {}", self.describe),
            })?;
        let mac = Zeroizing::new(
            session
                .sign(
                    &Mechanism::Sha256Hmac,
                    root,
                    format!("parcelguard v1|{purpose}").as_bytes(),
                )
                .map_err(hsm("deriving a key"))?,
        );
        let bytes: [u8; KEY_LEN] = mac.as_slice().try_into().map_err(|_| KeyError::Crypto {
            what: "deriving a key: unexpected HMAC length".to_owned(),
        })?;
        Ok(SecretKey::from_bytes(bytes))
    }

    fn kek_versions(&self) -> Result<Vec<u32>, KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
            .map_err(hsm("listing keys"))?;
        let mut versions = Vec::new();
        for h in handles {
            let attrs = session
                .get_attributes(h, &[cryptoki::object::AttributeType::Label])
                .map_err(hsm("reading a key label"))?;
            for a in attrs {
                if let Attribute::Label(l) = a
                    && let Ok(l) = std::str::from_utf8(&l)
                    && let Some(v) = l.strip_prefix(KEK_PREFIX).and_then(|v| v.parse().ok())
                {
                    versions.push(v);
                }
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    fn create_kek(&self) -> Result<u32, KeyError> {
        let next = self.kek_versions()?.last().copied().unwrap_or(0) + 1;
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        self.generate(&session, &format!("{KEK_PREFIX}{next}"), true)?;
        Ok(next)
    }

    fn wrap(&self, version: u32, key: &SecretKey, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let kek = self.kek(&session, version)?;
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(hsm("preparing AES-GCM"))?;
        let sealed = session
            .encrypt(&Mechanism::AesGcm(params), kek, key.expose())
            .map_err(hsm("wrapping a data key"))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey, KeyError> {
        if wrapped.len() != IV_LEN + KEY_LEN + 16 {
            return Err(KeyError::Crypto {
                what: "unwrapping a data key (damaged blob)".to_owned(),
            });
        }
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let kek = self.kek(&session, version)?;
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&wrapped[..IV_LEN]);
        let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(hsm("preparing AES-GCM"))?;
        let plain = Zeroizing::new(
            session
                .decrypt(&Mechanism::AesGcm(params), kek, &wrapped[IV_LEN..])
                .map_err(|_| KeyError::Crypto {
                    what: "unwrapping a data key (wrong key-encryption key, wrong binding or damaged blob)"
                        .to_owned(),
                })?,
        );
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| KeyError::Crypto {
            what: "unwrapping a data key: unexpected length".to_owned(),
        })?;
        Ok(SecretKey::from_bytes(bytes))
    }

    fn destroy_kek(&self, version: u32) -> Result<(), KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let kek = self.kek(&session, version)?;
        session.destroy_object(kek).map_err(hsm("destroying a key"))
    }
}
