//! The log service: durable appends with group commit, integration into the
//! tiled tree, signed checkpoints, and the reads that serving needs.
//!
//! Appends go to one writer thread. It takes every request waiting (up to
//! `max_batch`), and hands them to [`LogStorage::sequence`], which, under
//! the storage's single-writer lock, assigns indexes, integrates the leaves
//! into the tree and commits entries, changed tiles and the new tree head
//! in one durable transaction. Only then does each caller get its index:
//! concurrent appends share one fsync, and a crash loses nothing that was
//! acknowledged and never leaves entries without their tree (or a tree
//! without its entries), so the tree cannot fork.
//!
//! A publisher thread signs a checkpoint for the stored tree at least every
//! `checkpoint_interval`, after asking the configured witnesses (through a
//! [`Cosigner`]) to cosign it.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tlog_tiles::Hash;

use crate::LogError;
use crate::entry::Event;
use crate::note::{NoteKey, add_signature_lines, note_text, parse_checkpoint_text};
use crate::receipt::Receipt;
use crate::tree::{
    TILE_WIDTH, TilePath, TileSource, TreeBuilder, encode_bundle, prove_consistency,
    prove_inclusion,
};

/// Most entries one [`Log::entries`] call returns.
pub const MAX_ENTRIES_READ: u64 = 4096;

/// What one sequencing step wrote.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// Index of the first entry of the batch.
    pub first: u64,
    /// The entries, in index order.
    pub entries: Vec<Vec<u8>>,
    /// Expiring detail kept beside each entry (outside the tree), if any.
    pub details: Vec<Option<StoredDetail>>,
    /// Changed hash tiles `(level, index, data)`.
    pub tiles: Vec<(u8, u64, Vec<u8>)>,
    /// Tree size after the batch.
    pub size: u64,
    /// Root after the batch.
    pub root: Hash,
}

/// Detail of an entry that must expire (a customer's keyed hash, a ticket
/// number): stored beside the log, never in the tree. The entry carries
/// only `detail_sha256`, a salted commitment, so deleting the detail leaves
/// every leaf and tile intact and the commitment reveals nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringDetail {
    /// Tenant, for erasure.
    pub tenant: String,
    /// The customer's keyed hash, for erasure by person.
    pub subject: Option<String>,
    /// Unix time after which retention deletes it.
    pub expires_at: i64,
    /// The detail (canonical JSON).
    pub data: Vec<u8>,
}

/// An [`ExpiringDetail`] as stored: `salted` is the 16-byte salt followed
/// by the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDetail {
    /// Tenant.
    pub tenant: String,
    /// The customer's keyed hash.
    pub subject: Option<String>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// Salt ‖ data.
    pub salted: Vec<u8>,
}

const SALT_LEN: usize = 16;

fn commitment(salted: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(salted)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the log lives: the embedded SQLite file or PostgreSQL.
pub trait LogStorage: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Takes the single-writer lock, calls `step` once with the stored tree
    /// size and a tile reader inside the transaction, writes what it
    /// returns (entries, details, tiles, tree head) and commits durably.
    /// Nothing is written if `step` or the commit fails.
    fn sequence(
        &self,
        step: &mut dyn FnMut(u64, &dyn TileSource) -> Result<Sequenced, LogError>,
    ) -> Result<Sequenced, LogError>;

    /// The stored tree head (size 0 has the empty tree's hash).
    fn tree(&self) -> Result<(u64, Hash), LogError>;

    /// Entries `start..end` (all must exist).
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LogError>;

    /// A stored hash tile.
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError>;

    /// The latest signed checkpoint and its size.
    fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, LogError>;

    /// Stores a signed checkpoint of `size`, unless a larger one is stored
    /// (a same-size one replaces it: it carries more cosignatures).
    fn put_checkpoint(&self, size: u64, signed: &[u8]) -> Result<(), LogError>;

    /// The stored detail (salt ‖ data) of entry `index`, if any is left.
    fn detail(&self, index: u64) -> Result<Option<Vec<u8>>, LogError>;

    /// Deletes details that expired before `now`; returns how many.
    fn expire_details(&self, now: i64) -> Result<u64, LogError>;

    /// Deletes every detail of one customer of a tenant in entries before
    /// index `below`; returns how many.
    fn erase_details(&self, tenant: &str, subject: &str, below: u64) -> Result<u64, LogError>;
}

/// Reads tiles straight from storage.
#[derive(Debug)]
struct StoredTiles<'a>(&'a dyn LogStorage);

impl TileSource for StoredTiles<'_> {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        self.0.tile(level, index)
    }
}

/// Collects witness cosignatures for a new checkpoint (the transport is the
/// caller's: HTTP in the server).
pub trait Cosigner: Send + Sync + std::fmt::Debug {
    /// How many witnesses it asks (a checkpoint with fewer cosignatures is
    /// offered again later).
    fn witnesses(&self) -> usize;

    /// Returns the signature lines the witnesses gave for `signed` (a
    /// checkpoint of `size`). `proof_from(old)` gives the consistency proof
    /// from a witness's last size. Failures of single witnesses are the
    /// cosigner's to report; it returns what it got.
    fn cosign(
        &self,
        signed: &[u8],
        size: u64,
        proof_from: &(dyn Fn(u64) -> Result<Vec<Hash>, LogError> + Sync),
    ) -> Vec<String>;
}

/// Settings of a [`Log`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Most entries sequenced in one transaction.
    pub max_batch: usize,
    /// How often the publisher signs a checkpoint when the tree grew.
    pub checkpoint_interval: Duration,
    /// Witnesses to ask for cosignatures.
    pub cosigner: Option<Arc<dyn Cosigner>>,
    /// How often a checkpoint that some witness did not cosign is offered
    /// again (witnesses that are down must not stall every tick).
    pub witness_retry: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_batch: 8192,
            checkpoint_interval: Duration::from_secs(1),
            cosigner: None,
            witness_retry: Duration::from_secs(30),
        }
    }
}

struct Request {
    entry: Vec<u8>,
    detail: Option<StoredDetail>,
    reply: futures_channel::oneshot::Sender<Result<u64, LogError>>,
}

/// An append on its way to stable storage: `.await` it on an async
/// runtime (the caller's task is woken, no thread waits), or
/// [`Appending::wait`] for it on a thread. It resolves to the entry's
/// index only once the entry is durable. Dropping it does not withdraw
/// the entry, which is already queued.
#[must_use = "the entry is known to be durable only when this resolves"]
#[derive(Debug)]
pub struct Appending(futures_channel::oneshot::Receiver<Result<u64, LogError>>);

impl Appending {
    /// Blocks this thread until the entry is durable (or refused).
    pub fn wait(self) -> Result<u64, LogError> {
        pollster::block_on(self)
    }
}

impl std::future::Future for Appending {
    type Output = Result<u64, LogError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(LogError::Closed(
                    "the writer stopped before answering".to_owned(),
                ))
            })
        })
    }
}

#[derive(Debug)]
struct Shared {
    storage: Arc<dyn LogStorage>,
    key: NoteKey,
    cosigner: Option<Arc<dyn Cosigner>>,
    /// Serialises checkpoint signing within this process.
    publishing: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
    /// When this process last saw the stored checkpoint cover the whole
    /// tree (Unix ms; 0: not yet), for the checkpoint-age metric.
    current_at_ms: std::sync::atomic::AtomicI64,
}

/// The transparency log.
#[derive(Debug)]
pub struct Log {
    shared: Arc<Shared>,
    tx: Mutex<Option<Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    publisher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("entry_len", &self.entry.len())
            .finish()
    }
}

impl Log {
    /// Opens the log over `storage`, signing with `key`, and starts its
    /// writer and publisher threads.
    pub fn open(
        storage: Arc<dyn LogStorage>,
        key: NoteKey,
        options: LogOptions,
    ) -> Result<Self, LogError> {
        let shared = Arc::new(Shared {
            storage,
            key,
            cosigner: options.cosigner.clone(),
            publishing: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            current_at_ms: std::sync::atomic::AtomicI64::new(0),
        });
        // Fail at start-up, not on the first append, if storage is unusable.
        shared.storage.tree()?;
        let (tx, rx) = crossbeam_channel::unbounded::<Request>();
        let writer = {
            let shared = shared.clone();
            let max = options.max_batch.max(1);
            std::thread::Builder::new()
                .name("tlog-writer".to_owned())
                .spawn(move || writer_loop(&shared, &rx, max))
                .map_err(|e| LogError::Storage(format!("cannot start the writer thread: {e}")))?
        };
        let publisher = {
            let shared = shared.clone();
            let (every, retry) = (options.checkpoint_interval, options.witness_retry);
            std::thread::Builder::new()
                .name("tlog-publisher".to_owned())
                .spawn(move || publisher_loop(&shared, every, retry))
                .map_err(|e| LogError::Storage(format!("cannot start the publisher thread: {e}")))?
        };
        Ok(Self {
            shared,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            publisher: Mutex::new(Some(publisher)),
        })
    }

    /// The log's origin (its key name).
    pub fn origin(&self) -> &str {
        self.shared.key.name()
    }

    /// The log's verifier key.
    pub fn vkey(&self) -> String {
        self.shared.key.vkey()
    }

    /// The storage backend's name.
    pub fn backend(&self) -> &'static str {
        self.shared.storage.backend()
    }

    /// Appends an event; returns its index once it is on stable storage.
    pub fn append(&self, event: &Event) -> Result<u64, LogError> {
        self.append_bytes(event.encode()?)
    }

    /// Queues an event and returns at once; the [`Appending`] resolves
    /// to its index once it is on stable storage. For async callers, which
    /// then wait without holding a thread.
    pub fn append_deferred(&self, event: &Event) -> Result<Appending, LogError> {
        self.queue(event.encode()?, None)
    }

    /// Appends an encoded entry; returns its index once durable.
    pub fn append_bytes(&self, entry: Vec<u8>) -> Result<u64, LogError> {
        self.submit(entry, None)
    }

    /// Appends an event whose expiring detail is kept beside the log: the
    /// entry gets the detail's salted commitment (`detail_sha256`), and
    /// both are written in the same transaction.
    pub fn append_with_detail(
        &self,
        event: &Event,
        detail: ExpiringDetail,
    ) -> Result<u64, LogError> {
        let mut salted = vec![0u8; SALT_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salted);
        salted.extend_from_slice(&detail.data);
        let mut event = event.clone();
        event.detail_sha256 = Some(commitment(&salted));
        let stored = StoredDetail {
            tenant: detail.tenant,
            subject: detail.subject,
            expires_at: detail.expires_at,
            salted,
        };
        self.submit(event.encode()?, Some(stored))
    }

    /// The expiring detail of entry `index`, checked against the entry's
    /// commitment; `None` once retention or erasure deleted it.
    pub fn detail(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        let storage = &self.shared.storage;
        let Some(salted) = storage.detail(index)? else {
            return Ok(None);
        };
        let entry = storage
            .entries(index, index + 1)?
            .pop()
            .ok_or_else(|| LogError::NotFound(format!("entry {index}")))?;
        let event = Event::decode(&entry)?;
        if salted.len() < SALT_LEN || event.detail_sha256.as_deref() != Some(&commitment(&salted)) {
            return Err(LogError::Corrupt(format!(
                "entry {index}: stored detail does not match the entry's commitment"
            )));
        }
        Ok(Some(salted[SALT_LEN..].to_vec()))
    }

    /// Deletes expiring details past their expiry (retention).
    pub fn expire_details(&self, now: i64) -> Result<u64, LogError> {
        self.shared.storage.expire_details(now)
    }

    /// Deletes one customer's expiring details in entries before `below`
    /// (erasure, PIPL Art. 47; the erasure's own entry keeps its link).
    pub fn erase_details(&self, tenant: &str, subject: &str, below: u64) -> Result<u64, LogError> {
        self.shared.storage.erase_details(tenant, subject, below)
    }

    fn submit(&self, entry: Vec<u8>, detail: Option<StoredDetail>) -> Result<u64, LogError> {
        self.queue(entry, detail)?.wait()
    }

    fn queue(&self, entry: Vec<u8>, detail: Option<StoredDetail>) -> Result<Appending, LogError> {
        if entry.len() > crate::entry::MAX_ENTRY_BYTES {
            return Err(LogError::Entry(format!(
                "entry of {} bytes does not fit a bundle",
                entry.len()
            )));
        }
        let (reply, answer) = futures_channel::oneshot::channel();
        {
            let guard = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = guard
                .as_ref()
                .ok_or_else(|| LogError::Closed("the log is closed".to_owned()))?;
            tx.send(Request {
                entry,
                detail,
                reply,
            })
            .map_err(|_| LogError::Closed("the writer stopped".to_owned()))?;
        }
        Ok(Appending(answer))
    }

    /// The stored tree head.
    pub fn tree(&self) -> Result<(u64, Hash), LogError> {
        self.shared.storage.tree()
    }

    /// The latest signed checkpoint, signing one first if none exists.
    pub fn checkpoint(&self) -> Result<Vec<u8>, LogError> {
        match self.shared.storage.checkpoint()? {
            Some((_, signed)) => Ok(signed),
            None => publish(&self.shared, false),
        }
    }

    /// When this process last saw the stored checkpoint cover the whole
    /// tree, Unix milliseconds (`None` before its first publishing round).
    /// The checkpoint is at most this old, as far as this process knows.
    pub fn checkpoint_current_at_ms(&self) -> Option<i64> {
        match self
            .shared
            .current_at_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            t => Some(t),
        }
    }

    /// Signs (and has cosigned) a checkpoint for the stored tree now, unless
    /// the latest checkpoint already covers it. Returns the latest.
    pub fn publish(&self) -> Result<Vec<u8>, LogError> {
        publish(&self.shared, false)
    }

    /// A hash tile or entry bundle by its C2SP path.
    pub fn read(&self, path: &TilePath) -> Result<Vec<u8>, LogError> {
        let storage = &self.shared.storage;
        match *path {
            TilePath::Hash {
                level,
                index,
                width,
            } => {
                let want = width.map_or(TILE_WIDTH as usize, usize::from) * 32;
                // No tree has 2^55 tiles on a level; storage keys are i64.
                if index >= 1 << 55 {
                    return Err(LogError::NotFound(format!(
                        "{}: no such tile",
                        path.format()
                    )));
                }
                let data = storage.tile(level, index)?.unwrap_or_default();
                if data.len() < want || (width.is_none() && data.len() != want) {
                    return Err(LogError::NotFound(format!(
                        "{}: no such tile yet",
                        path.format()
                    )));
                }
                Ok(data[..want].to_vec())
            }
            TilePath::Entries { index, width } => {
                let n = width.map_or(TILE_WIDTH, u64::from);
                let end = index
                    .checked_mul(TILE_WIDTH)
                    .and_then(|s| s.checked_add(n))
                    .ok_or_else(|| LogError::NotFound(path.format()))?;
                let start = end - n;
                let (size, _) = storage.tree()?;
                if end > size {
                    return Err(LogError::NotFound(format!(
                        "{}: no such bundle yet",
                        path.format()
                    )));
                }
                encode_bundle(&storage.entries(start, start + n)?)
            }
        }
    }

    /// The encoded entries `start..end` (at most [`MAX_ENTRIES_READ`] of
    /// them, fewer if the log is shorter), for indexing and export.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let (size, _) = self.tree()?;
        let end = end.min(size).min(start.saturating_add(MAX_ENTRIES_READ));
        if start >= end {
            return Ok(Vec::new());
        }
        self.shared.storage.entries(start, end)
    }

    /// The entry at `index` and a receipt proving it is in the log.
    pub fn receipt(&self, index: u64) -> Result<Receipt, LogError> {
        let (size, _) = self.tree()?;
        if index >= size {
            return Err(LogError::NotFound(format!(
                "entry {index} does not exist (the log holds {size})"
            )));
        }
        let mut signed = self.checkpoint()?;
        let (_, mut cp_size, _) = parse_checkpoint_text(&note_text(&signed)?)?;
        if index >= cp_size {
            signed = self.publish()?;
            cp_size = parse_checkpoint_text(&note_text(&signed)?)?.1;
        }
        let storage = &self.shared.storage;
        let proof = prove_inclusion(index, cp_size, &StoredTiles(storage.as_ref()))?;
        let entry = storage
            .entries(index, index + 1)?
            .pop()
            .ok_or_else(|| LogError::NotFound(format!("entry {index}")))?;
        Ok(Receipt::new(index, &entry, &signed, &proof))
    }

    /// Consistency proof between two tree sizes.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
        prove_consistency(old, new, &StoredTiles(self.shared.storage.as_ref()))
    }

    /// Stops accepting appends, finishes those queued, publishes a final
    /// checkpoint and joins the threads. Called by `Drop` too.
    pub fn close(&self) {
        // Writer first: the final checkpoint must cover the last batch.
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = w.join();
        }
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(p) = self
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = p.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(shared: &Shared, rx: &Receiver<Request>, max_batch: usize) {
    let mut builder: Option<TreeBuilder> = None;
    while let Ok(first) = rx.recv() {
        let mut replies = Vec::with_capacity(64);
        let mut entries = Vec::with_capacity(64);
        let mut details = Vec::with_capacity(64);
        entries.push(first.entry);
        details.push(first.detail);
        replies.push(first.reply);
        while entries.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => {
                    entries.push(r.entry);
                    details.push(r.detail);
                    replies.push(r.reply);
                }
                Err(_) => break,
            }
        }
        let count = entries.len();
        let started = Instant::now();
        let result = shared.storage.sequence(&mut |stored, tiles| {
            let b = builder.get_or_insert_with(|| TreeBuilder::new(stored));
            if b.size() != stored {
                // Another process appended (PostgreSQL): cached tiles are stale.
                b.reset(stored);
            }
            let first = b.size();
            for e in &entries {
                b.append(tlog_tiles::record_hash(e), tiles)?;
            }
            let root = b.root(tiles)?;
            Ok(Sequenced {
                first,
                entries: std::mem::take(&mut entries),
                details: std::mem::take(&mut details),
                tiles: b.take_dirty(),
                size: b.size(),
                root,
            })
        });
        match result {
            Ok(seq) => {
                tracing::debug!(
                    entries = count,
                    size = seq.size,
                    micros = started.elapsed().as_micros() as u64,
                    "log batch committed"
                );
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Ok(seq.first + i as u64));
                }
            }
            Err(e) => {
                // The in-memory edge may be ahead of storage now: reload it.
                builder = None;
                tracing::error!(entries = count, error = %e, "log append failed; nothing was written");
                for reply in replies {
                    let _ = reply.send(Err(LogError::Storage(e.to_string())));
                }
            }
        }
    }
}

fn publisher_loop(shared: &Shared, every: Duration, retry_every: Duration) {
    // Witnesses that missed a checkpoint are asked again, but not on every
    // tick: a witness that is down must not stall the publisher.
    let mut last_retry = Instant::now();
    loop {
        {
            let stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
            if *stop {
                break;
            }
            let (stop, _) = shared
                .wake
                .wait_timeout(stop, every)
                .unwrap_or_else(PoisonError::into_inner);
            if *stop {
                break;
            }
        }
        let retry = last_retry.elapsed() >= retry_every;
        if retry {
            last_retry = Instant::now();
        }
        if let Err(e) = publish(shared, retry) {
            tracing::warn!(error = %e, "checkpoint not published");
        }
    }
    if let Err(e) = publish(shared, false) {
        tracing::warn!(error = %e, "final checkpoint not published");
    }
}

/// Signature lines on a signed note besides the log's own.
fn cosignature_count(signed: &[u8]) -> usize {
    let text_len = crate::note::note_text(signed).map_or(signed.len(), |t| t.len());
    String::from_utf8_lossy(signed.get(text_len + 1..).unwrap_or_default())
        .lines()
        .filter(|l| l.starts_with('—'))
        .count()
        .saturating_sub(1)
}

fn publish(shared: &Shared, recosign: bool) -> Result<Vec<u8>, LogError> {
    let signed = publish_locked(shared, recosign)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    shared
        .current_at_ms
        .store(now_ms, std::sync::atomic::Ordering::Relaxed);
    Ok(signed)
}

fn publish_locked(shared: &Shared, recosign: bool) -> Result<Vec<u8>, LogError> {
    let _one = shared
        .publishing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (size, root) = shared.storage.tree()?;
    let latest = shared.storage.checkpoint()?;
    let mut signed = match latest {
        Some((latest, signed)) if latest >= size => {
            // Up to date; but if witnesses missed it, offer it again.
            let missing = shared
                .cosigner
                .as_ref()
                .is_some_and(|c| cosignature_count(&signed) < c.witnesses());
            if !(recosign && missing) {
                return Ok(signed);
            }
            signed
        }
        _ => shared.key.sign_checkpoint(size, &root)?,
    };
    let (_, cp_size, _) = parse_checkpoint_text(&note_text(&signed)?)?;
    if let Some(cosigner) = &shared.cosigner {
        let storage = shared.storage.as_ref();
        let lines = cosigner.cosign(&signed, cp_size, &|old| {
            prove_consistency(old, cp_size, &StoredTiles(storage))
        });
        if !lines.is_empty() {
            signed = add_signature_lines(&signed, &lines.concat())?;
        }
    }
    shared.storage.put_checkpoint(cp_size, &signed)?;
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{KeyKind, TrustPolicy, VKey};
    use crate::witness::{AddCheckpoint, Witness, WitnessedTree};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// In-memory storage, enough for the service's logic.
    #[derive(Debug, Default)]
    struct Mem {
        inner: Mutex<MemInner>,
    }

    #[derive(Debug, Default)]
    struct MemInner {
        entries: Vec<Vec<u8>>,
        tiles: HashMap<(u8, u64), Vec<u8>>,
        root: Option<Hash>,
        checkpoint: Option<(u64, Vec<u8>)>,
    }

    impl TileSource for MemInner {
        fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
            Ok(self.tiles.get(&(level, index)).cloned())
        }
    }

    impl LogStorage for Mem {
        fn backend(&self) -> &'static str {
            "memory"
        }
        fn sequence(
            &self,
            step: &mut dyn FnMut(u64, &dyn TileSource) -> Result<Sequenced, LogError>,
        ) -> Result<Sequenced, LogError> {
            let mut m = self.inner.lock().unwrap();
            let seq = step(m.entries.len() as u64, &*m)?;
            m.entries.extend(seq.entries.iter().cloned());
            for (l, i, d) in &seq.tiles {
                m.tiles.insert((*l, *i), d.clone());
            }
            m.root = Some(seq.root);
            Ok(seq)
        }
        fn tree(&self) -> Result<(u64, Hash), LogError> {
            let m = self.inner.lock().unwrap();
            Ok((
                m.entries.len() as u64,
                m.root.unwrap_or(tlog_tiles::EMPTY_HASH),
            ))
        }
        fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LogError> {
            Ok(self.inner.lock().unwrap().entries[start as usize..end as usize].to_vec())
        }
        fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LogError> {
            self.inner.lock().unwrap().tile(level, index)
        }
        fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, LogError> {
            Ok(self.inner.lock().unwrap().checkpoint.clone())
        }
        fn put_checkpoint(&self, size: u64, signed: &[u8]) -> Result<(), LogError> {
            let mut m = self.inner.lock().unwrap();
            if m.checkpoint.as_ref().is_none_or(|(s, _)| *s <= size) {
                m.checkpoint = Some((size, signed.to_vec()));
            }
            Ok(())
        }
        fn detail(&self, _: u64) -> Result<Option<Vec<u8>>, LogError> {
            Ok(None)
        }
        fn expire_details(&self, _: i64) -> Result<u64, LogError> {
            Ok(0)
        }
        fn erase_details(&self, _: &str, _: &str, _: u64) -> Result<u64, LogError> {
            Ok(0)
        }
    }

    /// A witness reached in process that is down for its first `down` calls.
    #[derive(Debug)]
    struct Flaky {
        witness: Witness,
        state: Mutex<Option<WitnessedTree>>,
        down: usize,
        calls: AtomicUsize,
    }

    impl Cosigner for Flaky {
        fn witnesses(&self) -> usize {
            1
        }
        fn cosign(
            &self,
            signed: &[u8],
            size: u64,
            proof_from: &(dyn Fn(u64) -> Result<Vec<Hash>, LogError> + Sync),
        ) -> Vec<String> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.down {
                return Vec::new();
            }
            let mut state = self.state.lock().unwrap();
            let old = state.map_or(0, |t| t.size);
            let req = AddCheckpoint::from_log(old, size, signed, proof_from).unwrap();
            let ok = self
                .witness
                .add_checkpoint(&req, *state, 1_700_000_000)
                .unwrap();
            *state = Some(ok.tree);
            vec![ok.signature_lines]
        }
    }

    #[test]
    fn a_checkpoint_the_witness_missed_is_offered_again() {
        let key = NoteKey::from_seed("example.com/log", KeyKind::Log, &[1; 32]).unwrap();
        let wkey = NoteKey::from_seed("w.example", KeyKind::Witness, &[2; 32]).unwrap();
        let policy = TrustPolicy {
            log: VKey::parse(&key.vkey()).unwrap(),
            witnesses: vec![VKey::parse(&wkey.vkey()).unwrap()],
            quorum: 1,
        };
        let flaky = Arc::new(Flaky {
            witness: Witness::new(wkey, vec![VKey::parse(&key.vkey()).unwrap()]),
            state: Mutex::new(None),
            down: 1,
            calls: AtomicUsize::new(0),
        });
        let log = Log::open(
            Arc::new(Mem::default()),
            key,
            LogOptions {
                checkpoint_interval: Duration::from_millis(20),
                witness_retry: Duration::from_millis(100),
                cosigner: Some(flaky.clone()),
                ..LogOptions::default()
            },
        )
        .unwrap();
        for i in 0..5 {
            log.append(&Event::new(i, "t", "a", "search")).unwrap();
        }
        // The witness is down for the first checkpoint of size 5, and the
        // tree does not grow: a cosigned checkpoint of size 5 can only come
        // from the publisher offering it again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let cp = log.checkpoint().unwrap();
            if let Ok(v) = policy.verify(&cp) {
                assert_eq!(v.size, 5);
                assert!(flaky.calls.load(Ordering::SeqCst) >= 2);
                break;
            }
            assert!(Instant::now() < deadline, "never re-offered");
            std::thread::sleep(Duration::from_millis(20));
        }
        // New entries get cosigned checkpoints with a consistency proof.
        for i in 5..300 {
            log.append(&Event::new(i, "t", "a", "search")).unwrap();
        }
        let cp = log.publish().unwrap();
        assert_eq!(policy.verify(&cp).unwrap().size, 300);
    }

    #[test]
    fn deferred_appends_resolve_in_order_once_durable() {
        let key = NoteKey::from_seed("example.com/log", KeyKind::Log, &[1; 32]).unwrap();
        let mem = Arc::new(Mem::default());
        let log = Log::open(mem.clone(), key, LogOptions::default()).unwrap();
        let pending: Vec<Appending> = (0..20)
            .map(|i| {
                log.append_deferred(&Event::new(i, "t", "a", "reveal"))
                    .unwrap()
            })
            .collect();
        // Awaited (as the server does) or waited for, each gets its index,
        // and by then the entry is in storage.
        let first = pollster::block_on(async {
            let mut idx = Vec::new();
            for p in pending {
                idx.push(p.await.unwrap());
            }
            idx
        });
        assert_eq!(first, (0..20).collect::<Vec<u64>>());
        assert_eq!(mem.tree().unwrap().0, 20);
        let next = log
            .append_deferred(&Event::new(20, "t", "a", "reveal"))
            .unwrap();
        assert_eq!(next.wait().unwrap(), 20);
    }
}
