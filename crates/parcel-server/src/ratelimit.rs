//! Per-caller request rate limits (governor's keyed GCRA limiter).
//!
//! The unit is the credential: a hash of the `Authorization` header, so a
//! runaway client or a leaked key is slowed without touching anyone else;
//! requests without one are counted per client address. A refused request
//! gets `429` with `Retry-After` in the error envelope, and never reaches
//! authentication, the database or the log.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest as _, Sha256};

use crate::{ApiError, AppState};

/// The limiter, shared by the request handlers.
#[derive(Debug, Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
}

impl RateLimit {
    /// `per_sec` requests a second per caller, `burst` at once; `None` when
    /// `per_sec` is 0 (no limit).
    pub fn new(per_sec: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
        Some(Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
        })
    }

    /// Whether the caller `key` may make a request now; else how many
    /// seconds to wait.
    fn check(&self, key: &[u8; 16]) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Forgets callers whose buckets are full again (bounded memory).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn caller(req: &Request) -> [u8; 16] {
    let mut h = Sha256::new();
    match req.headers().get(header::AUTHORIZATION) {
        Some(v) => {
            h.update(b"auth\0");
            h.update(v.as_bytes());
        }
        None => {
            h.update(b"addr\0");
            if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                h.update(addr.ip().to_string().as_bytes());
            }
        }
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&h.finalize()[..16]);
    key
}

/// Middleware: refuses callers over their rate with 429.
pub(crate) async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = &state.rate_limit else {
        return next.run(req).await;
    };
    match limit.check(&caller(&req)) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("too many requests from this caller; retry in {wait} s"),
                None,
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}
