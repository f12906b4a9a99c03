//! Full verification of a published log, as an auditor runs it: fetch the
//! checkpoint, check its signatures against a [`TrustPolicy`], re-hash every
//! entry from the entry bundles, rebuild the whole tree, compare every
//! published hash tile with the rebuilt one, compare the root, and check
//! that an earlier checkpoint the auditor saved is a prefix of this tree.
//!
//! The published log is read through [`Published`] (a directory, a URL:
//! the caller's transport), so this module does no I/O of its own.

use tlog_tiles::Hash;

use crate::LogError;
use crate::note::{TrustPolicy, VerifiedCheckpoint};
use crate::tree::{NoTiles, TILE_WIDTH, TilePath, TreeBuilder, decode_bundle};

/// Read access to a published log (paths relative to its prefix:
/// `checkpoint`, `tile/0/000`, `tile/entries/000.p/7`, …).
pub trait Published {
    /// The file at `path`, or `None` if it does not exist.
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError>;
}

/// An earlier checkpoint the verifier trusted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SavedTree {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// The verdict of a full verification.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The verified checkpoint.
    pub checkpoint: VerifiedCheckpoint,
    /// The signed checkpoint as fetched (to save for the next run).
    pub signed_checkpoint: Vec<u8>,
    /// Entries re-hashed.
    pub entries: u64,
    /// Hash tiles compared.
    pub tiles: u64,
}

fn fetch(src: &dyn Published, path: &str) -> Result<Vec<u8>, LogError> {
    src.get(path)?
        .ok_or_else(|| LogError::Corrupt(format!("{path}: missing from the published log")))
}

fn bundles_count(size: u64) -> u64 {
    size.div_ceil(TILE_WIDTH)
}

fn check_tile(src: &dyn Published, level: u8, index: u64, rebuilt: &[u8]) -> Result<(), LogError> {
    let path = TilePath::hashes(level, index, rebuilt.len() as u64 / 32).format();
    if fetch(src, &path)? != rebuilt {
        return Err(LogError::Corrupt(format!(
            "{path}: does not match the tree rebuilt from the entries"
        )));
    }
    Ok(())
}

/// Verifies the whole log. `progress` is called with the entries done.
pub fn verify_log(
    src: &dyn Published,
    policy: &TrustPolicy,
    saved: Option<SavedTree>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Verdict, LogError> {
    let signed = fetch(src, "checkpoint")?;
    let checkpoint = policy.verify(&signed)?;
    let size = checkpoint.size;
    if let Some(old) = saved
        && old.size > size
    {
        return Err(LogError::Proof(format!(
            "rollback: the saved checkpoint has {} entries, the log now shows {size}",
            old.size
        )));
    }
    let mut builder = TreeBuilder::new(0);
    let mut tiles_checked = bundles_count(size);
    let mut partial: std::collections::BTreeMap<(u8, u64), Vec<u8>> = Default::default();
    let bundles = bundles_count(size);
    for b in 0..bundles {
        let n = (size - b * TILE_WIDTH).min(TILE_WIDTH);
        let bundle_path = TilePath::bundle(b, n).format();
        let bundle = fetch(src, &bundle_path)?;
        let entries =
            decode_bundle(&bundle).map_err(|e| LogError::Corrupt(format!("{bundle_path}: {e}")))?;
        if entries.len() as u64 != n {
            return Err(LogError::Corrupt(format!(
                "{bundle_path}: holds {} entries where the checkpoint implies {n} (entries {} to {})",
                entries.len(),
                b * TILE_WIDTH,
                b * TILE_WIDTH + n - 1
            )));
        }
        let leaf_path = TilePath::hashes(0, b, n).format();
        let leaf_tile = fetch(src, &leaf_path)?;
        if leaf_tile.len() as u64 != n * 32 {
            return Err(LogError::Corrupt(format!(
                "{leaf_path}: {} bytes where {} were expected",
                leaf_tile.len(),
                n * 32
            )));
        }
        for (i, e) in entries.iter().enumerate() {
            let index = b * TILE_WIDTH + i as u64;
            let leaf = tlog_tiles::record_hash(e);
            if leaf.0[..] != leaf_tile[i * 32..(i + 1) * 32] {
                return Err(LogError::Corrupt(format!(
                    "entry {index}: its hash does not match {leaf_path} (entry or tile altered)"
                )));
            }
            builder.append(leaf, &NoTiles)?;
            if let Some(old) = saved
                && builder.size() == old.size
                && builder.root(&NoTiles)? != old.root
            {
                return Err(LogError::Proof(format!(
                    "fork: the first {} entries no longer hash to the saved checkpoint's root",
                    old.size
                )));
            }
        }
        for (level, index, data) in builder.take_dirty() {
            // Level 0 was compared leaf by leaf. A partial tile is compared
            // once, at the end, at its final width.
            if level == 0 {
                continue;
            }
            if (data.len() as u64) < TILE_WIDTH * 32 {
                partial.insert((level, index), data);
            } else {
                partial.remove(&(level, index));
                check_tile(src, level, index, &data)?;
                tiles_checked += 1;
            }
        }
        progress(builder.size(), size);
    }
    for ((level, index), data) in &partial {
        check_tile(src, *level, *index, data)?;
        tiles_checked += 1;
    }
    let root = builder.root(&NoTiles)?;
    if root != checkpoint.root {
        return Err(LogError::Corrupt(format!(
            "the {size} entries hash to a root other than the signed checkpoint's"
        )));
    }
    Ok(Verdict {
        checkpoint,
        signed_checkpoint: signed,
        entries: size,
        tiles: tiles_checked,
    })
}
