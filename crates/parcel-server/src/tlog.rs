//! The transparency log over HTTP.
//!
//! - The log's public read paths (C2SP tlog-tiles): `/log/vkey`,
//!   `/log/checkpoint`, `/log/tile/<L>/<N>[.p/<W>]`,
//!   `/log/tile/entries/<N>[.p/<W>]`. Tiles and bundles never change once
//!   they exist, so they are served as immutable.
//! - `parcelguard witness`: [`WitnessService`] and [`witness_router`], the
//!   C2SP tlog-witness `add-checkpoint` endpoint with durable state.
//! - The log's client side: [`HttpCosigner`] asks witnesses to cosign each
//!   new checkpoint; [`HttpPublished`] reads a published log by URL for
//!   `parcelguard log verify --url`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parcel_tlog::log::Cosigner;
use parcel_tlog::note::{TrustPolicy, VKey, add_signature_lines};
use parcel_tlog::tree::TilePath;
use parcel_tlog::verify::Published;
use parcel_tlog::witness::{AddCheckpoint, Witness, WitnessError, WitnessedTree};
use parcel_tlog::{Hash, Log, LogError};

use crate::AppState;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn log_of(state: &AppState) -> Option<Arc<Log>> {
    state.vault.log().cloned()
}

fn no_log() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "this server has no transparency log\n".to_owned(),
    )
}

/// The tile route: its path holds slashes (`tile/0/x001/234`), which an
/// OpenAPI path parameter cannot, so it is registered apart and described
/// in the C2SP tlog-tiles specification rather than `/openapi.json`.
pub(crate) fn tile_routes() -> Router<AppState> {
    Router::new().route("/log/tile/{*rest}", get(tile))
}

#[utoipa::path(
    get,
    path = "/log/vkey",
    tag = "log",
    summary = "The log's verifier key (signed-note format)",
    responses((status = 200, description = "Verifier key", body = String, content_type = "text/plain"), (status = 404, description = "No log", body = String, content_type = "text/plain"))
)]
pub(crate) async fn vkey(State(state): State<AppState>) -> Response {
    match log_of(&state) {
        Some(log) => text(StatusCode::OK, format!("{}\n", log.vkey())),
        None => no_log(),
    }
}

#[utoipa::path(
    get,
    path = "/log/checkpoint",
    tag = "log",
    summary = "The latest signed checkpoint (C2SP checkpoint)",
    responses((status = 200, description = "Checkpoint", body = String, content_type = "text/plain"), (status = 404, description = "No log", body = String, content_type = "text/plain"), (status = 503, description = "Unavailable", body = String, content_type = "text/plain"))
)]
pub(crate) async fn checkpoint(State(state): State<AppState>) -> Response {
    // A new checkpoint replaces this one every second or so.
    read_log(&state, "text/plain; charset=utf-8", "no-cache", |log| {
        log.checkpoint()
    })
    .await
}

async fn tile(State(state): State<AppState>, UrlPath(rest): UrlPath<String>) -> Response {
    let path = match TilePath::parse(&format!("tile/{rest}")) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{e}\n")),
    };
    // A tile or bundle at a given width never changes once it exists.
    read_log(
        &state,
        "application/octet-stream",
        "public, max-age=31536000, immutable",
        move |log| log.read(&path),
    )
    .await
}

/// Runs a blocking read of the log and serves its bytes.
async fn read_log(
    state: &AppState,
    content_type: &'static str,
    cache_control: &'static str,
    read: impl FnOnce(&Log) -> Result<Vec<u8>, LogError> + Send + 'static,
) -> Response {
    let Some(log) = log_of(state) else {
        return no_log();
    };
    match tokio::task::spawn_blocking(move || read(&log)).await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache_control),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => log_error(&e),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "worker failed\n".to_owned(),
        ),
    }
}

fn log_error(e: &LogError) -> Response {
    match e {
        LogError::NotFound(_) | LogError::Path(_) => text(StatusCode::NOT_FOUND, format!("{e}\n")),
        _ => {
            tracing::error!(error = %e, "log read failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the log is unavailable\n".to_owned(),
            )
        }
    }
}

/// A witness: the cosigning key, the logs it follows, and its durable
/// record of the latest cosigned tree per log.
#[derive(Debug)]
pub struct WitnessService {
    witness: Witness,
    state_path: PathBuf,
    state: Mutex<BTreeMap<String, (u64, String)>>,
}

impl WitnessService {
    /// A witness keeping its state in `state_path` (a JSON file, replaced
    /// atomically and fsynced on every cosignature).
    pub fn open(witness: Witness, state_path: &Path) -> Result<Self, String> {
        let state = match std::fs::read(state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a witness state file: {e}", state_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        };
        Ok(Self {
            witness,
            state_path: state_path.to_owned(),
            state: Mutex::new(state),
        })
    }

    /// The witness's verifier key.
    pub fn vkey(&self) -> String {
        self.witness.vkey()
    }

    /// Handles one add-checkpoint body: the check against the latest
    /// cosigned tree and the update of that record happen under one lock,
    /// and the record is on disk before the cosignature is returned.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, WitnessError> {
        let req = AddCheckpoint::parse(body)?;
        let origin = self.witness.origin_of(&req)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = match state.get(&origin) {
            Some((size, root)) => Some(WitnessedTree {
                size: *size,
                root: Hash::parse_hash(root)
                    .map_err(|_| WitnessError::Internal("its state file is corrupt".to_owned()))?,
            }),
            None => None,
        };
        let cosigned = self.witness.add_checkpoint(&req, latest, now)?;
        let mut next = state.clone();
        next.insert(
            cosigned.origin.clone(),
            (cosigned.tree.size, cosigned.tree.root.to_string()),
        );
        persist(&self.state_path, &next).map_err(|e| {
            tracing::error!(error = %e, "witness state not saved; refusing to cosign");
            WitnessError::Internal("it cannot save its state".to_owned())
        })?;
        *state = next;
        tracing::info!(size = cosigned.tree.size, "cosigned a checkpoint");
        Ok(cosigned.signature_lines)
    }
}

fn persist(path: &Path, state: &BTreeMap<String, (u64, String)>) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).unwrap_or_default())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The witness's HTTP interface: `POST /add-checkpoint`, `GET /vkey`.
pub fn witness_router(svc: Arc<WitnessService>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route(
            "/vkey",
            get(|State(s): State<Arc<WitnessService>>| async move {
                text(StatusCode::OK, format!("{}\n", s.vkey()))
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(svc)
}

async fn add_checkpoint(State(svc): State<Arc<WitnessService>>, body: Bytes) -> Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    match tokio::task::spawn_blocking(move || svc.add_checkpoint(&body, now)).await {
        Ok(Ok(lines)) => text(StatusCode::OK, lines),
        Ok(Err(WitnessError::Conflict(size))) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response(),
        Ok(Err(e)) => text(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("{e}\n"),
        ),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "worker failed\n".to_owned(),
        ),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One configured witness: its submission prefix and verifier key.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// Submission prefix (`https://witness.example/w1`).
    pub url: String,
    /// The witness's verifier key.
    pub vkey: VKey,
}

impl WitnessEndpoint {
    /// Parses the `tlog.witnesses` form `URL VKEY`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (url, vkey) = s
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| "expected `URL VKEY`".to_owned())?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("the URL must start with http:// or https://".to_owned());
        }
        let vkey = VKey::parse(vkey.trim()).map_err(|e| e.to_string())?;
        if vkey.kind() != parcel_tlog::KeyKind::Witness {
            return Err("the key is not a witness (cosignature/v1) key".to_owned());
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            vkey,
        })
    }
}

/// Collects cosignatures from witnesses over HTTP (C2SP tlog-witness).
#[derive(Debug)]
pub struct HttpCosigner {
    log: VKey,
    witnesses: Vec<WitnessEndpoint>,
    known: Mutex<HashMap<String, u64>>,
    agent: ureq::Agent,
}

impl HttpCosigner {
    /// A cosigner for the log with verifier key `log`.
    pub fn new(log: VKey, witnesses: Vec<WitnessEndpoint>) -> Self {
        Self {
            log,
            witnesses,
            known: Mutex::new(HashMap::new()),
            agent: agent(),
        }
    }

    fn ask(
        &self,
        w: &WitnessEndpoint,
        signed: &[u8],
        size: u64,
        proof_from: &(dyn Fn(u64) -> Result<Vec<Hash>, LogError> + Sync),
    ) -> Result<String, String> {
        let mut old = *self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&w.url)
            .unwrap_or(&0);
        for _ in 0..2 {
            if old > size {
                return Err(format!(
                    "the witness has cosigned size {old}, larger than the log's {size}: possible rollback"
                ));
            }
            let body = AddCheckpoint::from_log(old, size, signed, proof_from)
                .map_err(|e| e.to_string())?
                .encode();
            let mut resp = self
                .agent
                .post(&format!("{}/add-checkpoint", w.url))
                .header("content-type", "text/plain")
                .send(&body[..])
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let text = resp
                .body_mut()
                .read_to_string()
                .map_err(|e| e.to_string())?;
            match status {
                200 => {
                    // Keep only valid cosignatures by this witness's key.
                    let merged = add_signature_lines(signed, &text).map_err(|e| e.to_string())?;
                    TrustPolicy {
                        log: self.log.clone(),
                        witnesses: vec![w.vkey.clone()],
                        quorum: 1,
                    }
                    .verify(&merged)
                    .map_err(|e| e.to_string())?;
                    self.known
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(w.url.clone(), size);
                    return Ok(text
                        .lines()
                        .filter(|l| {
                            signed_note::Signature::from_bytes(l.as_bytes()).is_ok_and(|sig| {
                                sig.name() == w.vkey.name() && sig.id() == w.vkey.key_id()
                            })
                        })
                        .map(|l| format!("{l}\n"))
                        .collect());
                }
                409 => {
                    let theirs: u64 = text
                        .trim()
                        .parse()
                        .map_err(|_| "409 without a tree size".to_owned())?;
                    if theirs == old {
                        return Err(format!(
                            "the witness holds another root for size {old}: the log may have forked"
                        ));
                    }
                    old = theirs;
                }
                s => {
                    let brief: String = text.trim().chars().take(200).collect();
                    return Err(format!("HTTP {s}: {brief}"));
                }
            }
        }
        Err("the witness kept reporting a different tree size".to_owned())
    }
}

impl Cosigner for HttpCosigner {
    fn witnesses(&self) -> usize {
        self.witnesses.len()
    }

    fn cosign(
        &self,
        signed: &[u8],
        size: u64,
        proof_from: &(dyn Fn(u64) -> Result<Vec<Hash>, LogError> + Sync),
    ) -> Vec<String> {
        // All witnesses at once: the slowest, not the sum, bounds the wait.
        std::thread::scope(|scope| {
            let asks: Vec<_> = self
                .witnesses
                .iter()
                .map(|w| {
                    (
                        w,
                        scope.spawn(move || self.ask(w, signed, size, proof_from)),
                    )
                })
                .collect();
            asks.into_iter()
                .filter_map(|(w, h)| match h.join() {
                    Ok(Ok(l)) => Some(l),
                    Ok(Err(e)) => {
                        tracing::warn!(witness = %w.vkey.name(), error = %e, "no cosignature");
                        None
                    }
                    Err(_) => None,
                })
                .collect()
        })
    }
}

/// A published log read over HTTP(S), for `parcelguard log verify --url`.
#[derive(Debug)]
pub struct HttpPublished {
    base: String,
    agent: ureq::Agent,
}

impl HttpPublished {
    /// The log under `base` (`https://host/log`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: agent(),
        }
    }
}

impl Published for HttpPublished {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        let url = format!("{}/{path}", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| LogError::Storage(format!("{url}: {e}")))?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .map(Some)
                .map_err(|e| LogError::Storage(format!("{url}: {e}"))),
            404 => Ok(None),
            s => Err(LogError::Storage(format!("{url}: HTTP {s}"))),
        }
    }
}
