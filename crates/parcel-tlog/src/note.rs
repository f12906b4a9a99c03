//! Signed checkpoints: the log's Ed25519 note signature (C2SP
//! `signed-note`, signature type 0x01) and witnesses' timestamped
//! cosignatures (C2SP `tlog-cosignature`, `cosignature/v1`, type 0x04).
//!
//! Note parsing, key ids and the vkey format come from the `signed_note`
//! crate; this module only adds the cosignature message and the k-of-n
//! witness policy a verifier applies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, Signer, Verifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};
use zeroize::Zeroizing;

use crate::LogError;

const ALG_ED25519: u8 = 0x01;
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Which kind of key a vkey names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A log's checkpoint key (Ed25519 note signature).
    Log,
    /// A witness's cosigning key (`cosignature/v1`).
    Witness,
}

impl KeyKind {
    fn alg(self) -> u8 {
        match self {
            KeyKind::Log => ALG_ED25519,
            KeyKind::Witness => ALG_COSIGNATURE_V1,
        }
    }
}

/// An Ed25519 key that signs checkpoints (the log) or cosigns them (a
/// witness). The seed comes from the key store; it is zeroized on drop and
/// never printed.
pub struct NoteKey {
    name: String,
    kind: KeyKind,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteKey")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn key_material(kind: KeyKind, public: &VerifyingKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(33);
    m.push(kind.alg());
    m.extend_from_slice(public.as_bytes());
    m
}

impl NoteKey {
    /// A key named `name` (a schema-less URL such as `parcelguard.example/log`)
    /// from a 32-byte seed.
    pub fn from_seed(name: &str, kind: KeyKind, seed: &[u8; 32]) -> Result<Self, LogError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(LogError::Key(format!(
                "key name `{name}` is not valid for a signed note (no spaces or `+`)"
            )));
        }
        let seed = Zeroizing::new(*seed);
        let key = SigningKey::from_bytes(&seed);
        let id = signed_note::key_id(name, &key_material(kind, &key.verifying_key()));
        Ok(Self {
            name: name.to_owned(),
            kind,
            key,
            id,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key, `name+keyhash+base64(alg ‖ public key)`.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(key_material(self.kind, &self.key.verifying_key()))
        )
    }

    /// Signs the checkpoint of a tree of `size` with root `root`.
    pub fn sign_checkpoint(&self, size: u64, root: &Hash) -> Result<Vec<u8>, LogError> {
        let cp = Checkpoint::new(&self.name, size, *root, "")
            .map_err(|_| LogError::Key("checkpoint origin is empty".to_owned()))?;
        let mut note = Note::new(&cp.to_bytes(), &[])
            .map_err(|e| LogError::Note(format!("cannot build note: {e}")))?;
        note.add_sigs(&[self])
            .map_err(|e| LogError::Note(format!("cannot sign note: {e}")))?;
        Ok(note.to_bytes())
    }

    /// The `cosignature/v1` signature line (with trailing newline) over a
    /// checkpoint's note text at Unix time `now`.
    pub fn cosign(&self, note_text: &[u8], now: u64) -> Result<String, LogError> {
        if self.kind != KeyKind::Witness {
            return Err(LogError::Key("only a witness key cosigns".to_owned()));
        }
        let sig = self.key.sign(&cosigned_message(note_text, now));
        let mut blob = Vec::with_capacity(4 + 8 + 64);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&now.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!("— {} {}\n", self.name, B64.encode(blob)))
    }
}

impl Signer for NoteKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

fn cosigned_message(note_text: &[u8], time: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(note_text);
    m
}

/// A parsed verifier key of a log or a witness.
#[derive(Debug, Clone)]
pub struct VKey {
    name: String,
    id: u32,
    kind: KeyKind,
    public: VerifyingKey,
}

impl VKey {
    /// Parses `name+keyhash+base64(alg ‖ key)`; the algorithm byte says
    /// whether it is a log (0x01) or a witness (0x04) key.
    pub fn parse(vkey: &str) -> Result<Self, LogError> {
        let bad = |why: &str| LogError::Key(format!("malformed verifier key: {why}"));
        let (name, rest) = vkey.trim().split_once('+').ok_or_else(|| bad("no `+`"))?;
        let (id16, b64) = rest.split_once('+').ok_or_else(|| bad("no key hash"))?;
        let id = u32::from_str_radix(id16, 16).map_err(|_| bad("key hash is not hex"))?;
        let material = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        let (kind, public) = match material.split_first() {
            Some((&ALG_ED25519, k)) => (KeyKind::Log, k),
            Some((&ALG_COSIGNATURE_V1, k)) => (KeyKind::Witness, k),
            _ => return Err(bad("unknown signature algorithm")),
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| bad("Ed25519 keys are 32 bytes"))?;
        let public = VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
        if !signed_note::is_key_name_valid(name) || signed_note::key_id(name, &material) != id {
            return Err(bad("key hash does not match name and key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            kind,
            public,
        })
    }

    /// The key's name (a log's origin, or a witness's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Log or witness key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The 4-byte key id signature lines carry.
    pub fn key_id(&self) -> u32 {
        self.id
    }
}

impl Verifier for VKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.kind {
            KeyKind::Log => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| self.public.verify(msg, &s).is_ok()),
            KeyKind::Witness => {
                let Some((time, s)) = sig.split_first_chunk::<8>() else {
                    return false;
                };
                let time = u64::from_be_bytes(*time);
                ed25519_dalek::Signature::from_slice(s)
                    .is_ok_and(|s| self.public.verify(&cosigned_message(msg, time), &s).is_ok())
            }
        }
    }
}

/// What a verifier requires of a checkpoint: the log's key and `k` of the
/// listed witnesses' cosignatures.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// The log's verifier key.
    pub log: VKey,
    /// Witnesses' verifier keys.
    pub witnesses: Vec<VKey>,
    /// How many distinct witnesses must have cosigned.
    pub quorum: usize,
}

/// A checkpoint that passed a [`TrustPolicy`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Names of the witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
    /// The note's text (origin, size, root lines).
    pub text: Vec<u8>,
}

impl TrustPolicy {
    /// Trusts the log's key alone.
    pub fn log_only(log: VKey) -> Self {
        Self {
            log,
            witnesses: Vec::new(),
            quorum: 0,
        }
    }

    /// Verifies a signed checkpoint: the log's signature must be valid,
    /// every signature by a known key must be valid, and at least `quorum`
    /// known witnesses must have cosigned. Unknown signers are ignored.
    pub fn verify(&self, signed: &[u8]) -> Result<VerifiedCheckpoint, LogError> {
        let note = Note::from_bytes(signed)
            .map_err(|e| LogError::Note(format!("checkpoint is not a signed note: {e}")))?;
        let mut keys: Vec<Box<dyn Verifier>> = vec![Box::new(self.log.clone())];
        for w in &self.witnesses {
            keys.push(Box::new(w.clone()));
        }
        let (verified, _unknown) = note
            .verify(&VerifierList::new(keys))
            .map_err(|e| LogError::Note(format!("checkpoint signature check failed: {e}")))?;
        let log_signed = verified
            .iter()
            .any(|s| s.name() == self.log.name && s.id() == self.log.id);
        if !log_signed {
            return Err(LogError::Note(format!(
                "checkpoint carries no valid signature by the log key `{}`",
                self.log.name
            )));
        }
        let mut witnesses: Vec<String> = verified
            .iter()
            .filter(|s| {
                self.witnesses
                    .iter()
                    .any(|w| w.name == s.name() && w.id == s.id())
            })
            .map(|s| s.name().to_owned())
            .collect();
        witnesses.sort();
        witnesses.dedup();
        if witnesses.len() < self.quorum {
            return Err(LogError::Note(format!(
                "checkpoint has {} of the {} required witness cosignatures",
                witnesses.len(),
                self.quorum
            )));
        }
        let cp = Checkpoint::from_bytes(note.text())
            .map_err(|_| LogError::Note("malformed checkpoint body".to_owned()))?;
        if cp.origin() != self.log.name {
            return Err(LogError::Note(format!(
                "checkpoint origin `{}` is not the log's `{}`",
                cp.origin(),
                self.log.name
            )));
        }
        Ok(VerifiedCheckpoint {
            size: cp.size(),
            root: *cp.hash(),
            witnesses,
            text: note.text().to_vec(),
        })
    }
}

/// Appends signature lines (a witness's response) to a signed note, keeping
/// one signature per key.
pub fn add_signature_lines(signed: &[u8], lines: &str) -> Result<Vec<u8>, LogError> {
    let note = Note::from_bytes(signed)
        .map_err(|e| LogError::Note(format!("checkpoint is not a signed note: {e}")))?;
    let mut sigs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let all = String::from_utf8_lossy(&signed[note.text().len() + 1..]).into_owned() + lines;
    for line in all.lines().filter(|l| !l.is_empty()) {
        let sig = signed_note::Signature::from_bytes(line.as_bytes())
            .map_err(|e| LogError::Note(format!("malformed signature line: {e}")))?;
        if seen.insert((sig.name().to_owned(), sig.id())) {
            sigs.push(sig);
        }
    }
    let merged = Note::new(note.text(), &sigs)
        .map_err(|e| LogError::Note(format!("cannot merge signatures: {e}")))?;
    Ok(merged.to_bytes())
}

/// The text part of a signed note (origin, size, root and extension lines).
pub fn note_text(signed: &[u8]) -> Result<Vec<u8>, LogError> {
    let note = Note::from_bytes(signed)
        .map_err(|e| LogError::Note(format!("checkpoint is not a signed note: {e}")))?;
    Ok(note.text().to_vec())
}

/// Size and root of a checkpoint's text, without checking signatures.
pub fn parse_checkpoint_text(text: &[u8]) -> Result<(String, u64, Hash), LogError> {
    let cp = Checkpoint::from_bytes(text)
        .map_err(|_| LogError::Note("malformed checkpoint body".to_owned()))?;
    Ok((cp.origin().to_owned(), cp.size(), *cp.hash()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_key() -> NoteKey {
        NoteKey::from_seed("example.com/log", KeyKind::Log, &[7; 32]).unwrap()
    }

    fn witness(name: &str, seed: u8) -> NoteKey {
        NoteKey::from_seed(name, KeyKind::Witness, &[seed; 32]).unwrap()
    }

    #[test]
    fn vkey_round_trips_and_matches_signed_note() {
        let k = log_key();
        let vkey = k.vkey();
        // signed_note's own parser accepts our log vkey (same format as
        // golang.org/x/mod/sumdb/note).
        let theirs = signed_note::StandardVerifier::new(&vkey).unwrap();
        assert_eq!(theirs.key_id(), k.id);
        let ours = VKey::parse(&vkey).unwrap();
        assert_eq!(ours.kind(), KeyKind::Log);
        let w = VKey::parse(&witness("w.example/1", 1).vkey()).unwrap();
        assert_eq!(w.kind(), KeyKind::Witness);
        let mut tampered = vkey.clone();
        tampered.replace_range(0..1, "x");
        assert!(VKey::parse(&tampered).is_err());
    }

    #[test]
    fn checkpoint_verifies_with_quorum_of_cosignatures() {
        let k = log_key();
        let root = tlog_tiles::record_hash(b"x");
        let signed = k.sign_checkpoint(5, &root).unwrap();
        let text = note_text(&signed).unwrap();
        let (w1, w2, w3) = (
            witness("w1.example", 1),
            witness("w2.example", 2),
            witness("w3.example", 3),
        );
        let lines =
            w1.cosign(&text, 1_700_000_000).unwrap() + &w2.cosign(&text, 1_700_000_001).unwrap();
        let cosigned = add_signature_lines(&signed, &lines).unwrap();
        let mut policy = TrustPolicy {
            log: VKey::parse(&k.vkey()).unwrap(),
            witnesses: [&w1, &w2, &w3]
                .iter()
                .map(|w| VKey::parse(&w.vkey()).unwrap())
                .collect(),
            quorum: 2,
        };
        let v = policy.verify(&cosigned).unwrap();
        assert_eq!((v.size, v.root), (5, root));
        assert_eq!(v.witnesses, vec!["w1.example", "w2.example"]);
        policy.quorum = 3;
        assert!(
            policy
                .verify(&cosigned)
                .unwrap_err()
                .to_string()
                .contains("2 of the 3")
        );
        // Without cosignatures the log's own signature is not enough for k=1.
        policy.quorum = 1;
        assert!(policy.verify(&signed).is_err());
    }

    #[test]
    fn any_flipped_byte_fails() {
        let k = log_key();
        let signed = k
            .sign_checkpoint(9, &tlog_tiles::record_hash(b"y"))
            .unwrap();
        let policy = TrustPolicy::log_only(VKey::parse(&k.vkey()).unwrap());
        policy.verify(&signed).unwrap();
        for i in 0..signed.len() {
            let mut bad = signed.clone();
            bad[i] ^= 0x01;
            assert!(
                policy.verify(&bad).is_err(),
                "byte {i} flipped still verified"
            );
        }
    }

    #[test]
    fn cosignature_signs_the_spec_message() {
        // C2SP tlog-cosignature: "cosignature/v1\ntime <t>\n" ‖ note body.
        let w = witness("w.example", 4);
        let body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let line = w.cosign(body, 1_679_315_147).unwrap();
        let blob = B64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 4 + 8 + 64);
        assert_eq!(&blob[4..12], &1_679_315_147u64.to_be_bytes());
        let sig = ed25519_dalek::Signature::from_slice(&blob[12..]).unwrap();
        let msg = b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        w.key.verifying_key().verify(msg, &sig).unwrap();
    }
}
