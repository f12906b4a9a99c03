//! The Merkle tree as C2SP tlog-tiles lays it out: hash tiles of height 8
//! (256 hashes per tile, level L holding the level-8L hashes), entry
//! bundles of 256 length-prefixed entries, and their paths.
//!
//! Hashing, stored-hash indexes, proofs and proof checks are
//! `tlog_tiles`' (a port of golang.org/x/mod/sumdb/tlog). This module adds
//! the incremental writer: [`TreeBuilder`] keeps the rightmost tile of each
//! level in memory, so appending a leaf costs two hashes on average and no
//! read, and it reports which tiles changed so the storage writes them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use tlog_tiles::{Hash, HashReader, Tile};

use crate::LogError;

/// Tile height: 2^8 = 256 hashes per full tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile (or bundle).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
const HASH_LEN: usize = 32;

/// The RFC 6962 leaf hash of an entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// The root of the empty tree (SHA-256 of nothing, RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    tlog_tiles::EMPTY_HASH
}

/// Something that returns the stored data of a hash tile: the hashes of
/// level `8 * level`, nodes `256 * index ..`, at whatever width it has.
pub trait TileSource {
    /// The tile's bytes (a multiple of 32), or `None` if it does not exist.
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError>;
}

/// A source with no tiles (a new tree, or a verifier rebuilding from leaves).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTiles;

impl TileSource for NoTiles {
    fn tile(&self, _level: u8, _index: u64) -> Result<Option<Vec<u8>>, LogError> {
        Ok(None)
    }
}

/// A path under the log's prefix (`tile/0/x001/234.p/5`, `tile/entries/007`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile.
    Hash {
        /// Tile level (0 holds leaf hashes).
        level: u8,
        /// Tile index within the level.
        index: u64,
        /// Partial width (1..=255), or `None` for a full tile.
        width: Option<u16>,
    },
    /// An entry bundle.
    Entries {
        /// Bundle index.
        index: u64,
        /// Partial width (1..=255), or `None` for a full bundle.
        width: Option<u16>,
    },
}

fn format_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

impl TilePath {
    /// The path, relative to the log's prefix.
    pub fn format(&self) -> String {
        let (head, index, width) = match *self {
            TilePath::Hash {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let partial = width.map(|w| format!(".p/{w}")).unwrap_or_default();
        format!("tile/{head}/{}{partial}", format_index(index))
    }

    /// Parses a path relative to the log's prefix, accepting only the
    /// canonical form [`TilePath::format`] writes.
    pub fn parse(path: &str) -> Result<Self, LogError> {
        let bad = || LogError::Path(path.chars().take(80).collect());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (head, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((d, w)) => {
                let w: u16 = w.parse().map_err(|_| bad())?;
                if !(1..TILE_WIDTH as u16).contains(&w) {
                    return Err(bad());
                }
                (d, Some(w))
            }
            None => (rest, None),
        };
        let mut index: u64 = 0;
        let parts: Vec<&str> = digits.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let d = if last {
                *part
            } else {
                part.strip_prefix('x').ok_or_else(bad)?
            };
            if d.len() != 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let v: u64 = d.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(v))
                .ok_or_else(bad)?;
        }
        let parsed = if head == "entries" {
            TilePath::Entries { index, width }
        } else {
            let level: u8 = head.parse().map_err(|_| bad())?;
            if level > 63 || head != level.to_string() {
                return Err(bad());
            }
            TilePath::Hash {
                level,
                index,
                width,
            }
        };
        if parsed.format() != path {
            return Err(bad());
        }
        Ok(parsed)
    }
}

impl TilePath {
    /// Entry bundle `index` holding `count` (1..=256) entries.
    pub fn bundle(index: u64, count: u64) -> Self {
        TilePath::Entries {
            index,
            width: partial_width(count),
        }
    }

    /// Hash tile `index` of `level` holding `count` (1..=256) hashes.
    pub fn hashes(level: u8, index: u64, count: u64) -> Self {
        TilePath::Hash {
            level,
            index,
            width: partial_width(count),
        }
    }
}

fn partial_width(count: u64) -> Option<u16> {
    (count < TILE_WIDTH).then_some(count as u16)
}

/// The entry bundles that exist for a tree of `size`.
pub fn bundles_for_size(size: u64) -> Vec<TilePath> {
    (0..size.div_ceil(TILE_WIDTH))
        .map(|b| TilePath::bundle(b, (size - b * TILE_WIDTH).min(TILE_WIDTH)))
        .collect()
}

/// The hash tiles that exist for a tree of `size`, level by level, each at
/// its width in that tree (entry bundles follow level 0's layout).
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let nodes = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
        if nodes == 0 {
            break;
        }
        for index in 0..nodes / TILE_WIDTH {
            out.push(TilePath::Hash {
                level,
                index,
                width: None,
            });
        }
        let w = nodes % TILE_WIDTH;
        if w > 0 {
            out.push(TilePath::Hash {
                level,
                index: nodes / TILE_WIDTH,
                width: Some(w as u16),
            });
        }
        level += 1;
    }
    out
}

/// Encodes an entry bundle: each entry as a 2-byte big-endian length and
/// its bytes.
pub fn encode_bundle<T: AsRef<[u8]>>(entries: &[T]) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| {
            LogError::Entry(format!("entry of {} bytes does not fit a bundle", e.len()))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn decode_bundle(bundle: &[u8]) -> Result<Vec<&[u8]>, LogError> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(LogError::Corrupt(format!(
                "entry bundle: truncated length prefix after entry {}",
                out.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(LogError::Corrupt(format!(
                "entry bundle: entry {} is truncated",
                out.len()
            )));
        }
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    Ok(out)
}

/// Reads stored hashes from tile data, first from `mem`, then from `source`.
struct Reader<'a> {
    mem: Option<&'a HashMap<(u8, u64), Vec<u8>>>,
    source: &'a dyn TileSource,
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        let mut loaded: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        for &idx in indexes {
            let needed = Tile::from_index(TILE_HEIGHT, idx);
            let key = (needed.level(), needed.level_index());
            let data = match self.mem.and_then(|m| m.get(&key)) {
                Some(d) => d,
                None => {
                    if let Entry::Vacant(slot) = loaded.entry(key) {
                        let d = self
                            .source
                            .tile(key.0, key.1)
                            .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))?
                            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                        slot.insert(d);
                    }
                    &loaded[&key]
                }
            };
            let width = data.len() / HASH_LEN;
            if data.len() % HASH_LEN != 0 || width == 0 || width as u64 > TILE_WIDTH {
                return Err(tlog_tiles::Error::InvalidTile);
            }
            if (width as u32) < needed.width() {
                return Err(tlog_tiles::Error::IndexesNotInTree);
            }
            let tile = Tile::new(TILE_HEIGHT, key.0, key.1, width as u32, false);
            out.push(tile.hash_at_index(data, idx)?);
        }
        Ok(out)
    }
}

/// The hash reader over `source` (for proofs against stored tiles).
pub fn hash_reader(source: &dyn TileSource) -> impl HashReader + '_ {
    Reader { mem: None, source }
}

fn tlog_err(what: &str, e: tlog_tiles::Error) -> LogError {
    LogError::Corrupt(format!("{what}: {e}"))
}

/// Appends leaves to a tree, keeping the tiles it touches in memory.
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    size: u64,
    tiles: HashMap<(u8, u64), Vec<u8>>,
    dirty: BTreeSet<(u8, u64)>,
}

impl TreeBuilder {
    /// A builder continuing a stored tree of `size` leaves (tiles are read
    /// from the source as needed).
    pub fn new(size: u64) -> Self {
        Self {
            size,
            ..Self::default()
        }
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf given its RFC 6962 leaf hash; returns its index.
    pub fn append(&mut self, leaf: Hash, source: &dyn TileSource) -> Result<u64, LogError> {
        let n = self.size;
        let hashes = {
            let reader = Reader {
                mem: Some(&self.tiles),
                source,
            };
            tlog_tiles::stored_hashes_for_record_hash(n, leaf, &reader)
                .map_err(|e| tlog_err("reading the tree's right edge", e))?
        };
        let base = tlog_tiles::stored_hash_index(0, n);
        for (i, h) in hashes.iter().enumerate() {
            let (level, k) = tlog_tiles::split_stored_hash_index(base + i as u64);
            if level % TILE_HEIGHT != 0 {
                continue;
            }
            let key = (level / TILE_HEIGHT, k >> TILE_HEIGHT);
            let pos = (k % TILE_WIDTH) as usize;
            let data = match self.tiles.entry(key) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(if pos == 0 {
                    Vec::new()
                } else {
                    source.tile(key.0, key.1)?.unwrap_or_default()
                }),
            };
            // A stored tile may be wider than our size if a writer crashed
            // between writing tiles and the tree state; never the case when
            // both commit in one transaction, but cut it back to be safe.
            if data.len() > pos * HASH_LEN {
                data.truncate(pos * HASH_LEN);
            }
            if data.len() != pos * HASH_LEN {
                return Err(LogError::Corrupt(format!(
                    "tile {}: holds {} hashes where {pos} were expected",
                    TilePath::Hash {
                        level: key.0,
                        index: key.1,
                        width: None
                    }
                    .format(),
                    data.len() / HASH_LEN
                )));
            }
            data.extend_from_slice(&h.0);
            self.dirty.insert(key);
        }
        self.size += 1;
        Ok(n)
    }

    /// The root hash of the current tree.
    pub fn root(&self, source: &dyn TileSource) -> Result<Hash, LogError> {
        let reader = Reader {
            mem: Some(&self.tiles),
            source,
        };
        tlog_tiles::tree_hash(self.size, &reader).map_err(|e| tlog_err("computing the root", e))
    }

    /// The tiles changed since the last call, as `(level, index, data)`.
    /// Full tiles are then dropped from memory: appends never read them
    /// again (only the rightmost tile of each level holds a node that
    /// still waits for its sibling).
    pub fn take_dirty(&mut self) -> Vec<(u8, u64, Vec<u8>)> {
        let out: Vec<(u8, u64, Vec<u8>)> = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|k| self.tiles.get(&k).map(|d| (k.0, k.1, d.clone())))
            .collect();
        self.tiles
            .retain(|_, d| (d.len() / HASH_LEN) < TILE_WIDTH as usize);
        out
    }

    /// Forgets cached tiles (after another writer may have appended).
    pub fn reset(&mut self, size: u64) {
        self.size = size;
        self.tiles.clear();
        self.dirty.clear();
    }
}

/// Inclusion proof of leaf `index` in the tree of `size`.
pub fn prove_inclusion(
    index: u64,
    size: u64,
    source: &dyn TileSource,
) -> Result<Vec<Hash>, LogError> {
    if index >= size {
        return Err(LogError::NotFound(format!(
            "entry {index} is not in a tree of size {size}"
        )));
    }
    tlog_tiles::prove_record(size, index, &hash_reader(source))
        .map_err(|e| tlog_err("building an inclusion proof", e))
}

/// Consistency proof from the tree of `old` leaves to the tree of `new`.
pub fn prove_consistency(
    old: u64,
    new: u64,
    source: &dyn TileSource,
) -> Result<Vec<Hash>, LogError> {
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    if old > new {
        return Err(LogError::NotFound(format!(
            "no consistency proof from size {old} to the smaller size {new}"
        )));
    }
    tlog_tiles::prove_tree(new, old, &hash_reader(source))
        .map_err(|e| tlog_err("building a consistency proof", e))
}

/// Checks that `leaf` is entry `index` of the tree (`size`, `root`).
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), LogError> {
    if index >= size {
        return Err(LogError::Proof(format!(
            "entry {index} lies outside the tree of size {size}"
        )));
    }
    if proof.len() > 64 {
        return Err(LogError::Proof("inclusion proof is too long".to_owned()));
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf).map_err(|_| {
        LogError::Proof(format!(
            "inclusion proof for entry {index} does not lead to the checkpoint's root"
        ))
    })
}

/// Checks that the tree (`old`, `old_root`) is a prefix of (`new`, `new_root`).
pub fn check_consistency(
    proof: &[Hash],
    old: u64,
    old_root: Hash,
    new: u64,
    new_root: Hash,
) -> Result<(), LogError> {
    if old > new {
        return Err(LogError::Proof(format!(
            "rollback: the tree shrank from {old} to {new} entries"
        )));
    }
    if old == 0 {
        return Ok(());
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(LogError::Proof(format!(
                "fork: two different roots for a tree of size {old}"
            )))
        };
    }
    if proof.len() > 63 {
        return Err(LogError::Proof("consistency proof is too long".to_owned()));
    }
    tlog_tiles::check_tree(&proof.to_vec(), new, new_root, old, old_root).map_err(|_| {
        LogError::Proof(format!(
            "the tree of size {new} is not an extension of the one of size {old}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TileSource for HashMap<(u8, u64), Vec<u8>> {
        fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
            Ok(self.get(&(level, index)).cloned())
        }
    }

    fn hex(h: &Hash) -> String {
        h.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The eight leaves of RFC 6962's test data (certificate-transparency
    /// `merkle_tree_test.cc`, also transparency-dev/merkle's
    /// `testonly/constants.go`) and the roots of their prefixes.
    const RFC6962_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const RFC6962_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn build(leaves: &[Vec<u8>], batch: usize) -> (TreeBuilder, HashMap<(u8, u64), Vec<u8>>) {
        let mut store: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        let mut b = TreeBuilder::new(0);
        for chunk in leaves.chunks(batch) {
            for l in chunk {
                b.append(tlog_tiles::record_hash(l), &store).unwrap();
            }
            for (lv, i, d) in b.take_dirty() {
                store.insert((lv, i), d);
            }
        }
        (b, store)
    }

    #[test]
    fn rfc6962_roots() {
        let leaves: Vec<Vec<u8>> = RFC6962_LEAVES.iter().map(|l| unhex(l)).collect();
        for n in 1..=8 {
            let (b, store) = build(&leaves[..n], 3);
            assert_eq!(
                hex(&b.root(&store).unwrap()),
                RFC6962_ROOTS[n - 1],
                "size {n}"
            );
        }
    }

    /// Reference root by RFC 6962 §2.1's recursive definition.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => tlog_tiles::EMPTY_HASH,
            1 => tlog_tiles::record_hash(&leaves[0]),
            n => {
                let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
                tlog_tiles::node_hash(mth(&leaves[..k]), mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn builder_matches_definition_across_tile_boundaries_and_restarts() {
        let leaves: Vec<Vec<u8>> = (0..70_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for &n in &[
            1usize, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 70_000,
        ] {
            // Batches of 97: the builder is dropped and rebuilt from storage
            // (as after a restart) at every multiple of 1000.
            let mut store: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
            let mut b = TreeBuilder::new(0);
            for (i, l) in leaves[..n].iter().enumerate() {
                if i % 1000 == 0 {
                    for (lv, ti, d) in b.take_dirty() {
                        store.insert((lv, ti), d);
                    }
                    b = TreeBuilder::new(i as u64);
                }
                b.append(tlog_tiles::record_hash(l), &store).unwrap();
                if i % 97 == 0 || i + 1 == n {
                    for (lv, ti, d) in b.take_dirty() {
                        store.insert((lv, ti), d);
                    }
                }
            }
            assert_eq!(b.root(&store).unwrap(), mth(&leaves[..n]), "size {n}");
            // Without restarts, the rightmost tiles kept in memory suffice
            // for the root at every size (the verifier relies on this).
            let mut mem = TreeBuilder::new(0);
            for (i, l) in leaves[..n].iter().enumerate() {
                mem.append(tlog_tiles::record_hash(l), &NoTiles).unwrap();
                if i % 97 == 0 {
                    mem.take_dirty();
                }
                if i % 4999 == 0 || i + 1 == n {
                    assert_eq!(
                        mem.root(&NoTiles).unwrap(),
                        mth(&leaves[..=i]),
                        "size {}",
                        i + 1
                    );
                }
            }
            // Every tile that should exist does, at its width.
            for p in tiles_for_size(n as u64) {
                let TilePath::Hash {
                    level,
                    index,
                    width,
                } = p
                else {
                    unreachable!()
                };
                let d = &store[&(level, index)];
                assert_eq!(
                    d.len() / 32,
                    width.map_or(256, usize::from),
                    "{}",
                    p.format()
                );
            }
        }
    }

    #[test]
    fn proofs_verify_and_reject_tampering() {
        let leaves: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let (_, store) = build(&leaves, 50);
        for &(size, idx) in &[
            (1u64, 0u64),
            (7, 3),
            (256, 255),
            (257, 256),
            (1000, 0),
            (1000, 999),
            (1000, 517),
        ] {
            let root = mth(&leaves[..size as usize]);
            let proof = prove_inclusion(idx, size, &store).unwrap();
            let leaf = tlog_tiles::record_hash(&leaves[idx as usize]);
            check_inclusion(&proof, size, root, idx, leaf).unwrap();
            assert!(
                check_inclusion(&proof, size, root, idx, tlog_tiles::record_hash(b"x")).is_err()
            );
            if idx + 1 < size {
                assert!(check_inclusion(&proof, size, root, idx + 1, leaf).is_err());
            }
        }
        for &(old, new) in &[
            (1u64, 2u64),
            (3, 7),
            (256, 257),
            (255, 1000),
            (999, 1000),
            (1000, 1000),
        ] {
            let proof = prove_consistency(old, new, &store).unwrap();
            let (ro, rn) = (mth(&leaves[..old as usize]), mth(&leaves[..new as usize]));
            check_consistency(&proof, old, ro, new, rn).unwrap();
            if old < new {
                assert!(check_consistency(&proof, old, rn, new, rn).is_err());
            }
        }
        assert!(
            check_consistency(&[], 10, mth(&leaves[..10]), 9, mth(&leaves[..9]))
                .unwrap_err()
                .to_string()
                .contains("rollback")
        );
    }

    #[test]
    fn paths_follow_c2sp() {
        let cases = [
            (
                TilePath::Hash {
                    level: 0,
                    index: 1_234_067,
                    width: None,
                },
                "tile/0/x001/x234/067",
            ),
            (
                TilePath::Hash {
                    level: 1,
                    index: 0,
                    width: Some(5),
                },
                "tile/1/000.p/5",
            ),
            (
                TilePath::Entries {
                    index: 1000,
                    width: None,
                },
                "tile/entries/x001/000",
            ),
            (
                TilePath::Entries {
                    index: 7,
                    width: Some(255),
                },
                "tile/entries/007.p/255",
            ),
        ];
        for (p, s) in cases {
            assert_eq!(p.format(), s);
            assert_eq!(TilePath::parse(s).unwrap(), p);
        }
        for bad in [
            "tile/0/1",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/00/001",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/entries/x1/000",
            "tiles/0/000",
            "tile/64/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bundles_round_trip_and_detect_truncation() {
        let entries: Vec<Vec<u8>> = vec![b"a".to_vec(), Vec::new(), vec![7; 300]];
        let b = encode_bundle(&entries).unwrap();
        assert_eq!(&b[..3], &[0, 1, b'a']);
        let d = decode_bundle(&b).unwrap();
        assert_eq!(d, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(decode_bundle(&b[..b.len() - 1]).is_err());
        assert!(decode_bundle(&b[..4]).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn hash(b: u8) -> Hash {
        Hash([b; 32])
    }

    proptest! {
        /// Untrusted proofs and sizes never panic: they verify or fail.
        #[test]
        fn proof_checks_never_panic(
            size in 0u64..5000, index in 0u64..6000, old in 0u64..6000,
            proof in proptest::collection::vec(any::<u8>(), 0..70),
        ) {
            let proof: Vec<Hash> = proof.into_iter().map(hash).collect();
            let _ = check_inclusion(&proof, size, hash(1), index, hash(2));
            let _ = check_consistency(&proof, old, hash(1), size, hash(2));
        }

        /// Tile paths round-trip, and parsing arbitrary text never panics.
        #[test]
        fn paths_round_trip(level in 0u8..64, index: u64, width in proptest::option::of(1u16..256), text in ".{0,60}") {
            let p = TilePath::Hash { level, index, width };
            prop_assert_eq!(TilePath::parse(&p.format()).unwrap(), p);
            let e = TilePath::Entries { index, width };
            prop_assert_eq!(TilePath::parse(&e.format()).unwrap(), e);
            let _ = TilePath::parse(&text);
        }
    }
}
