//! A receipt: one log entry, a signed checkpoint that covers it, and the
//! inclusion proof between them. Whoever holds it can check, offline and
//! with nothing but the log's (and witnesses') public keys, that the event
//! is in the log that everyone else sees.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

use crate::LogError;
use crate::entry::Event;
use crate::note::{TrustPolicy, VerifiedCheckpoint};
use crate::tree::check_inclusion;

/// One entry's proof of inclusion, as served by `/v1/log/receipt/{index}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The entry's index in the log.
    pub index: u64,
    /// The entry's canonical bytes, base64.
    pub entry: String,
    /// The signed checkpoint (note text and signature lines).
    pub checkpoint: String,
    /// Inclusion proof hashes, base64, from the leaf up.
    pub inclusion_proof: Vec<String>,
}

/// What a receipt proved.
#[derive(Debug, Clone)]
pub struct CheckedReceipt {
    /// The event.
    pub event: Event,
    /// The checkpoint that includes it.
    pub checkpoint: VerifiedCheckpoint,
}

impl Receipt {
    /// Builds a receipt from its parts.
    pub fn new(index: u64, entry: &[u8], checkpoint: &[u8], proof: &[Hash]) -> Self {
        Self {
            index,
            entry: B64.encode(entry),
            checkpoint: String::from_utf8_lossy(checkpoint).into_owned(),
            inclusion_proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
        }
    }

    /// The entry's event, without checking anything.
    pub fn event(&self) -> Result<Event, LogError> {
        let entry = B64
            .decode(&self.entry)
            .map_err(|_| LogError::Proof(format!("receipt {}: entry is not base64", self.index)))?;
        Event::decode(&entry)
    }

    /// Verifies the receipt: the checkpoint against `policy`, the entry's
    /// canonical encoding, and its inclusion at `index`.
    pub fn verify(&self, policy: &TrustPolicy) -> Result<CheckedReceipt, LogError> {
        let checkpoint = policy.verify(self.checkpoint.as_bytes())?;
        let entry = B64
            .decode(&self.entry)
            .map_err(|_| LogError::Proof(format!("receipt {}: entry is not base64", self.index)))?;
        let event = Event::decode(&entry)?;
        let mut proof = Vec::with_capacity(self.inclusion_proof.len());
        for (i, h) in self.inclusion_proof.iter().enumerate() {
            let bytes: [u8; 32] = B64
                .decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    LogError::Proof(format!(
                        "receipt {}: inclusion proof hash {i} is not 32 bytes of base64",
                        self.index
                    ))
                })?;
            proof.push(Hash(bytes));
        }
        check_inclusion(
            &proof,
            checkpoint.size,
            checkpoint.root,
            self.index,
            tlog_tiles::record_hash(&entry),
        )?;
        Ok(CheckedReceipt { event, checkpoint })
    }
}
