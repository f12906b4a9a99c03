//! Logging set-up for parcelguard and a log-capture helper for tests.
//!
//! Every binary entry point calls [`init`] once. Tests that must prove that
//! personal data never reaches the logs wrap the code under test in
//! [`capture`] and then call [`Captured::assert_absent`] with the values that
//! must not appear.
#![deny(missing_docs)]

use std::io::{self, IsTerminal, Write};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines with colours when stderr is a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" | "text" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(TelemetryError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Errors from setting up logging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The log format is neither `human` nor `json`.
    #[error("unknown log format `{0}`: expected `human` or `json`")]
    UnknownFormat(String),
    /// The level filter could not be parsed.
    #[error("invalid log filter `{filter}`: {reason}")]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadyInitialised,
}

/// Installs the global subscriber writing to stderr.
///
/// `filter` uses the `tracing_subscriber::EnvFilter` syntax (`info`,
/// `parcel_scan=debug`, ...).
pub fn init(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| TelemetryError::BadFilter {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Human => builder.with_ansi(io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInitialised)
}

/// Log output captured by [`capture`].
#[derive(Debug, Clone, Default)]
pub struct Captured {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    /// Everything logged so far, as text.
    pub fn text(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Returns the first of `secrets` that appears in the captured logs, if any.
    ///
    /// Each secret is also checked with separators (spaces, dashes) removed
    /// from the log text, so `138-1234-5678` is caught when looking for
    /// `13812345678`.
    pub fn find_any<'a>(&self, secrets: &[&'a str]) -> Option<&'a str> {
        let text = self.text();
        let squashed: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        secrets
            .iter()
            .copied()
            .find(|s| !s.is_empty() && (text.contains(s) || squashed.contains(s)))
    }

    /// Panics (for tests) if any of `secrets` appears in the captured logs.
    ///
    /// The panic message names the position of the secret in the list, never
    /// the secret itself.
    #[expect(clippy::panic, reason = "test assertion helper")]
    pub fn assert_absent(&self, secrets: &[&str]) {
        if let Some(found) = self.find_any(secrets) {
            let idx = secrets.iter().position(|s| *s == found).unwrap_or(0);
            panic!(
                "personal value #{idx} of {} appeared in the logs",
                secrets.len()
            );
        }
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter {
            buf: Arc::clone(&self.buf),
        }
    }
}

/// The writer handed to `tracing` by [`Captured`].
#[derive(Debug)]
pub struct CapturedWriter {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Write for CapturedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every log event at `trace` level and above captured, in both
/// the human and the JSON format, and returns its result with the capture.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("trace"))
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, captured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_sees_events_and_finds_secrets() {
        let ((), cap) = capture(|| {
            tracing::info!(count = 3, "scanned file");
            tracing::warn!("phone 138-1234-5678 leaked");
        });
        assert!(cap.text().contains("scanned file"));
        assert_eq!(cap.find_any(&["13812345678"]), Some("13812345678"));
        assert_eq!(cap.find_any(&["13900000000"]), None);
    }

    #[test]
    #[should_panic(expected = "personal value #1 of 2 appeared")]
    fn assert_absent_names_index_not_value() {
        let ((), cap) = capture(|| tracing::info!("name 张三"));
        cap.assert_absent(&["李四", "张三"]);
    }

    #[test]
    fn log_format_parses() {
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        assert_eq!("human".parse::<LogFormat>().ok(), Some(LogFormat::Human));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
