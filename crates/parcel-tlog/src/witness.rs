//! The witness's side of C2SP `tlog-witness`: parse an `add-checkpoint`
//! request, decide whether to cosign, and produce the cosignature. The
//! state (latest cosigned size and root per origin) is the caller's to keep
//! durably, and its check-then-update must be atomic; see
//! [`Witness::add_checkpoint`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tlog_tiles::Hash;

use crate::LogError;
use crate::note::{NoteKey, TrustPolicy, VKey, note_text, parse_checkpoint_text};
use crate::tree::check_consistency;

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone)]
pub struct AddCheckpoint {
    /// The size the log believes the witness last cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint.
    pub checkpoint: Vec<u8>,
}

/// Why a witness refuses; each maps to the HTTP status the spec names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// 400: the request is malformed or the old size exceeds the new one.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no trusted log key signed the checkpoint.
    #[error("the checkpoint is not signed by a key this witness trusts for its origin")]
    Forbidden,
    /// 404: the origin is not a log this witness knows.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 409: the old size is not the latest cosigned size (or the same size
    /// came with another root). Carries the witness's latest size.
    #[error("the witness's latest cosigned size is {0}")]
    Conflict(u64),
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    BadProof(String),
    /// 500: the witness itself failed (its state cannot be read or saved).
    #[error("the witness failed: {0}")]
    Internal(String),
}

impl WitnessError {
    /// The HTTP status code the spec requires.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::Forbidden => 403,
            WitnessError::UnknownOrigin => 404,
            WitnessError::Conflict(_) => 409,
            WitnessError::BadProof(_) => 422,
            WitnessError::Internal(_) => 500,
        }
    }
}

impl AddCheckpoint {
    /// Parses `old N\n`, up to 63 base64 proof lines, an empty line, then
    /// the signed checkpoint.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(why.to_owned());
        let mut rest = body;
        let next_line = |rest: &mut &[u8]| -> Result<String, WitnessError> {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| bad("line without a newline"))?;
            let line = std::str::from_utf8(&rest[..nl])
                .map_err(|_| bad("line is not UTF-8"))?
                .to_owned();
            *rest = &rest[nl + 1..];
            Ok(line)
        };
        let first = next_line(&mut rest)?;
        let old = first
            .strip_prefix("old ")
            .ok_or_else(|| bad("first line must be `old <size>`"))?;
        if old.is_empty() || (old.len() > 1 && old.starts_with('0')) {
            return Err(bad("old size must be a decimal without leading zeroes"));
        }
        let old_size: u64 = old.parse().map_err(|_| bad("old size is not a number"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == 63 {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let h: [u8; 32] = B64
                .decode(&line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("proof line is not a base64 hash"))?;
            proof.push(Hash(h));
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request a log sends a witness that last cosigned size `old`:
    /// no proof from nothing or to the same size, else a consistency proof
    /// from `old` to `size`.
    pub fn from_log(
        old: u64,
        size: u64,
        signed: &[u8],
        proof_from: &dyn Fn(u64) -> Result<Vec<Hash>, LogError>,
    ) -> Result<Self, LogError> {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            proof_from(old)?
        };
        Ok(Self {
            old_size: old,
            proof,
            checkpoint: signed.to_vec(),
        })
    }

    /// The request body (what a log sends).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(B64.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// A witness: its cosigning key and the logs it follows.
#[derive(Debug)]
pub struct Witness {
    key: NoteKey,
    logs: Vec<VKey>,
}

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WitnessedTree {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// What the witness agreed to.
#[derive(Debug, Clone)]
pub struct Cosigned {
    /// The log's origin.
    pub origin: String,
    /// The new state to persist before answering.
    pub tree: WitnessedTree,
    /// Signature lines for the response body.
    pub signature_lines: String,
}

impl Witness {
    /// A witness cosigning with `key` for the logs whose verifier keys are
    /// `logs`.
    pub fn new(key: NoteKey, logs: Vec<VKey>) -> Self {
        Self { key, logs }
    }

    /// The witness's verifier key.
    pub fn vkey(&self) -> String {
        self.key.vkey()
    }

    /// The origin a request is for, so the caller can look up (and lock)
    /// that log's state.
    pub fn origin_of(&self, req: &AddCheckpoint) -> Result<String, WitnessError> {
        let text =
            note_text(&req.checkpoint).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let (origin, _, _) =
            parse_checkpoint_text(&text).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        Ok(origin)
    }

    /// Decides on a request given the latest tree cosigned for its origin
    /// (`None` if never). The caller must hold that origin's lock from
    /// reading `latest` until it has persisted the returned tree.
    pub fn add_checkpoint(
        &self,
        req: &AddCheckpoint,
        latest: Option<WitnessedTree>,
        now: u64,
    ) -> Result<Cosigned, WitnessError> {
        let origin = self.origin_of(req)?;
        // A log may have several trusted keys (during a key rotation).
        let mut keys = self.logs.iter().filter(|k| k.name() == origin).peekable();
        if keys.peek().is_none() {
            return Err(WitnessError::UnknownOrigin);
        }
        let verified = keys
            .find_map(|k| {
                TrustPolicy::log_only(k.clone())
                    .verify(&req.checkpoint)
                    .ok()
            })
            .ok_or(WitnessError::Forbidden)?;
        if req.old_size > verified.size {
            return Err(WitnessError::BadRequest(format!(
                "old size {} exceeds the checkpoint's size {}",
                req.old_size, verified.size
            )));
        }
        let latest_size = latest.map_or(0, |t| t.size);
        if req.old_size != latest_size {
            return Err(WitnessError::Conflict(latest_size));
        }
        if let Some(prev) = latest {
            if prev.size == verified.size {
                if prev.root != verified.root {
                    return Err(WitnessError::Conflict(prev.size));
                }
            } else {
                check_consistency(
                    &req.proof,
                    prev.size,
                    prev.root,
                    verified.size,
                    verified.root,
                )
                .map_err(|e| WitnessError::BadProof(e.to_string()))?;
            }
        } else if !req.proof.is_empty() {
            return Err(WitnessError::BadProof(
                "the proof must be empty when the old size is zero".to_owned(),
            ));
        }
        let signature_lines = self
            .key
            .cosign(&verified.text, now)
            .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        Ok(Cosigned {
            origin,
            tree: WitnessedTree {
                size: verified.size,
                root: verified.root,
            },
            signature_lines,
        })
    }
}

/// Turns a witness error into the log's error, for the collecting side.
impl From<WitnessError> for LogError {
    fn from(e: WitnessError) -> Self {
        LogError::Note(format!("witness refused: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{KeyKind, add_signature_lines};
    use crate::tree::{NoTiles, TreeBuilder, prove_consistency};
    use std::collections::HashMap;

    struct Tiles(HashMap<(u8, u64), Vec<u8>>);
    impl crate::tree::TileSource for Tiles {
        fn tile(&self, l: u8, i: u64) -> Result<Option<Vec<u8>>, LogError> {
            Ok(self.0.get(&(l, i)).cloned())
        }
    }

    fn grow(b: &mut TreeBuilder, tiles: &mut Tiles, n: u64) -> Hash {
        for i in 0..n {
            b.append(tlog_tiles::record_hash(&i.to_be_bytes()), tiles)
                .unwrap();
        }
        for (l, i, d) in b.take_dirty() {
            tiles.0.insert((l, i), d);
        }
        b.root(&NoTiles).unwrap()
    }

    #[test]
    fn follows_the_protocol() {
        let log = NoteKey::from_seed("example.com/log", KeyKind::Log, &[1; 32]).unwrap();
        let wkey = NoteKey::from_seed("witness.example/w1", KeyKind::Witness, &[2; 32]).unwrap();
        let wvkey = VKey::parse(&wkey.vkey()).unwrap();
        let witness = Witness::new(wkey, vec![VKey::parse(&log.vkey()).unwrap()]);
        let mut tiles = Tiles(HashMap::new());
        let mut b = TreeBuilder::new(0);
        let r10 = grow(&mut b, &mut tiles, 10);
        let cp10 = log.sign_checkpoint(10, &r10).unwrap();

        // First contact: old 0, empty proof.
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: cp10.clone(),
        };
        let req = AddCheckpoint::parse(&req.encode()).unwrap();
        let ok = witness.add_checkpoint(&req, None, 1_700_000_000).unwrap();
        assert_eq!(ok.tree.size, 10);
        // The cosignature verifies under a k=1 policy.
        let cosigned = add_signature_lines(&cp10, &ok.signature_lines).unwrap();
        let policy = TrustPolicy {
            log: VKey::parse(&log.vkey()).unwrap(),
            witnesses: vec![wvkey],
            quorum: 1,
        };
        policy.verify(&cosigned).unwrap();

        // Growth with a valid proof.
        let r300 = grow(&mut b, &mut tiles, 290);
        let cp300 = log.sign_checkpoint(300, &r300).unwrap();
        let proof = prove_consistency(10, 300, &tiles).unwrap();
        let req = AddCheckpoint {
            old_size: 10,
            proof: proof.clone(),
            checkpoint: cp300.clone(),
        };
        let latest = Some(ok.tree);
        let ok300 = witness.add_checkpoint(&req, latest, 1_700_000_100).unwrap();

        // Stale old size: 409 with the witness's size.
        let stale = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: cp300.clone(),
        };
        assert_eq!(
            witness.add_checkpoint(&stale, latest, 0).unwrap_err(),
            WitnessError::Conflict(10)
        );
        // Rollback: a smaller checkpoint after 300.
        let back = AddCheckpoint {
            old_size: 300,
            proof: vec![],
            checkpoint: cp10.clone(),
        };
        assert_eq!(
            witness
                .add_checkpoint(&back, Some(ok300.tree), 0)
                .unwrap_err()
                .status(),
            400
        );
        // Fork: same size, other root.
        let forged = log.sign_checkpoint(300, &r10).unwrap();
        let fork = AddCheckpoint {
            old_size: 300,
            proof: vec![],
            checkpoint: forged,
        };
        assert_eq!(
            witness
                .add_checkpoint(&fork, Some(ok300.tree), 0)
                .unwrap_err()
                .status(),
            409
        );
        // Bad proof: 422.
        let mut bad = proof.clone();
        bad[0] = r10;
        let req = AddCheckpoint {
            old_size: 10,
            proof: bad,
            checkpoint: cp300.clone(),
        };
        assert_eq!(
            witness
                .add_checkpoint(&req, latest, 0)
                .unwrap_err()
                .status(),
            422
        );
        // Unknown origin: 404; unsigned by the trusted key: 403.
        let other = NoteKey::from_seed("other.example/log", KeyKind::Log, &[3; 32]).unwrap();
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: other.sign_checkpoint(1, &r10).unwrap(),
        };
        assert_eq!(
            witness.add_checkpoint(&req, None, 0).unwrap_err().status(),
            404
        );
        // During a log key rotation the witness trusts both keys.
        let next = NoteKey::from_seed("example.com/log", KeyKind::Log, &[8; 32]).unwrap();
        let both = Witness::new(
            NoteKey::from_seed("witness.example/w1", KeyKind::Witness, &[2; 32]).unwrap(),
            vec![
                VKey::parse(&log.vkey()).unwrap(),
                VKey::parse(&next.vkey()).unwrap(),
            ],
        );
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: next.sign_checkpoint(10, &r10).unwrap(),
        };
        assert!(both.add_checkpoint(&req, None, 0).is_ok());
        let impostor = NoteKey::from_seed("example.com/log", KeyKind::Log, &[9; 32]).unwrap();
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: impostor.sign_checkpoint(10, &r10).unwrap(),
        };
        assert_eq!(
            witness.add_checkpoint(&req, None, 0).unwrap_err().status(),
            403
        );
    }

    #[test]
    fn parses_the_spec_example_and_rejects_malformed_bodies() {
        let body = b"old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n";
        let r = AddCheckpoint::parse(body).unwrap();
        assert_eq!((r.old_size, r.proof.len()), (20_852_014, 2));
        for bad in [
            &b"old 01\n\n"[..],
            b"new 1\n\n",
            b"old 1\nnot-base64\n\n",
            b"old 1",
            b"old -1\n\n",
        ] {
            assert_eq!(AddCheckpoint::parse(bad).unwrap_err().status(), 400);
        }
    }
}
