//! parcelguard's configuration.
//!
//! One TOML file (`parcelguard.toml`, chosen with `--config` or
//! `PARCELGUARD_CONFIG`), every key overridable by an environment variable
//! named after its path: `scan.min_score` is `PARCELGUARD_SCAN_MIN_SCORE`.
//! Precedence, highest first: command-line flags (applied by the binary),
//! environment, file, built-in defaults. With no file and no variables the
//! embedded default works as is: a data directory `./parcelguard-data`.
//!
//! The list of overridable keys is derived from [`Config::default`] itself,
//! so a key added to the structs is overridable without further code.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "PARCELGUARD_";
/// Variable naming the configuration file.
pub const CONFIG_ENV: &str = "PARCELGUARD_CONFIG";
/// File looked for in the working directory when no path is given.
pub const DEFAULT_FILE: &str = "parcelguard.toml";

/// The whole configuration. Field docs are the reference for the file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the SQLite database and key files.
    /// Default `./parcelguard-data`. Env: `PARCELGUARD_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Logging.
    pub log: LogConfig,
    /// Where the root key comes from.
    pub keys: KeysConfig,
    /// Defaults for `parcelguard scan` and `parcelguard redact`.
    pub scan: ScanConfig,
    /// Where the vault's database lives.
    pub database: DatabaseConfig,
    /// The vault: tenant, retention, masking.
    pub vault: VaultConfig,
    /// `parcelguard serve`.
    pub server: ServerConfig,
    /// `[tlog]`: the transparency log.
    pub tlog: TlogConfig,
    /// `[reveal]`: purpose-bound reveal (policies, grace period, quotas).
    pub reveal: RevealConfig,
    /// `[auth]`: single sign-on (OIDC) next to API keys.
    pub auth: AuthConfig,
    /// `[risk]`: live insider-risk detection in `serve`, and its responses.
    pub risk: RiskConfig,
    /// `[numbers]`: privacy numbers (AXB binding) in `serve`.
    pub numbers: NumbersConfig,
}

/// `[numbers]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumbersConfig {
    /// Bind a privacy number when a shipment goes out for delivery, and
    /// serve the number endpoints. Default true (a tenant without a pool
    /// simply gets no numbers). Env: `PARCELGUARD_NUMBERS_ENABLED`.
    pub enabled: bool,
    /// Seconds after the delivery window during which the recipient can
    /// still call the courier back. Default 7200.
    /// Env: `PARCELGUARD_NUMBERS_GRACE_SECS`.
    pub grace_secs: u64,
    /// Delivery window assumed for a shipment without one. Default 28800.
    /// Env: `PARCELGUARD_NUMBERS_DEFAULT_WINDOW_SECS`.
    pub default_window_secs: u64,
    /// Fall back to X plus a 4-digit extension when no pool number is
    /// free for a pair. Default true. Env: `PARCELGUARD_NUMBERS_EXTENSIONS`.
    pub extensions: bool,
    /// The service accounts that are telephony switches, as `tenant/id`
    /// (a bare `id` is one of `vault.tenant`): only they may route calls
    /// and post call records. Default none.
    /// Env: `PARCELGUARD_NUMBERS_SWITCH`, comma-separated.
    pub switch: Vec<String>,
}

impl Default for NumbersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            grace_secs: 7200,
            default_window_secs: 8 * 3600,
            extensions: true,
            switch: Vec::new(),
        }
    }
}

/// `[risk]` section. Responses name the least severity (`low`, `medium`,
/// `high`, `critical`) that triggers them, or `never`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Feed every access to the detector while serving. Default true.
    /// Env: `PARCELGUARD_RISK_ENABLED`.
    pub enabled: bool,
    /// The daily alert budget (guide: 5 per 1,000 employees). Default 5.
    /// Env: `PARCELGUARD_RISK_ALERTS_PER_DAY`.
    pub alerts_per_day: f64,
    /// Local time of days and shifts, `±HH:MM`. Default `+08:00`.
    /// Env: `PARCELGUARD_RISK_UTC_OFFSET`.
    pub utc_offset: String,
    /// URL alerts are posted to as JSON (pseudonymous); empty: none.
    /// Env: `PARCELGUARD_RISK_WEBHOOK`.
    pub webhook: String,
    /// Least severity posted to the webhook. Default `medium`.
    /// Env: `PARCELGUARD_RISK_NOTIFY_AT`.
    pub notify_at: String,
    /// Least severity that tightens the actor's reveal quota. Default
    /// `high`. Env: `PARCELGUARD_RISK_TIGHTEN_AT`.
    pub tighten_at: String,
    /// Least severity that suspends the actor (admins are never suspended
    /// automatically). Default `critical`. Env: `PARCELGUARD_RISK_SUSPEND_AT`.
    pub suspend_at: String,
    /// Least severity after which each of the actor's reveals needs a
    /// second person's approval (a request at `/v1/break-glass`, approved
    /// by an admin) for `tighten_hours`. Default `never`.
    /// Env: `PARCELGUARD_RISK_APPROVAL_AT`.
    pub approval_at: String,
    /// The tightened quota per hour. Default 5.
    /// Env: `PARCELGUARD_RISK_TIGHTENED_PER_HOUR`.
    pub tightened_per_hour: u64,
    /// The tightened quota per day. Default 20.
    /// Env: `PARCELGUARD_RISK_TIGHTENED_PER_DAY`.
    pub tightened_per_day: u64,
    /// Hours a tightened quota lasts. Default 72.
    /// Env: `PARCELGUARD_RISK_TIGHTEN_HOURS`.
    pub tighten_hours: u64,
    /// Days a benign verdict suppresses the alert's signals for that actor
    /// unless the analyst says otherwise. Default 30.
    /// Env: `PARCELGUARD_RISK_SUPPRESS_DAYS`.
    pub suppress_days: u64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            alerts_per_day: 5.0,
            utc_offset: "+08:00".to_owned(),
            webhook: String::new(),
            notify_at: "medium".to_owned(),
            tighten_at: "high".to_owned(),
            suspend_at: "critical".to_owned(),
            approval_at: "never".to_owned(),
            tightened_per_hour: 5,
            tightened_per_day: 20,
            tighten_hours: 72,
            suppress_days: 30,
        }
    }
}

/// `[reveal]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevealConfig {
    /// Directory of `.cedar` policy files; empty (default) uses the built-in
    /// set (`policies/reveal.cedar`). Env: `PARCELGUARD_REVEAL_POLICY_DIR`.
    pub policy_dir: String,
    /// Seconds after delivery or return that reveals stay possible.
    /// Default 86400. Env: `PARCELGUARD_REVEAL_GRACE_SECS`.
    pub grace_secs: u64,
    /// Seconds a second admin has to approve a break-glass request, and the
    /// requester then has to use it. Default 900.
    /// Env: `PARCELGUARD_REVEAL_BREAK_GLASS_SECS`.
    pub break_glass_secs: u64,
    /// Reveals each principal may make per hour and per day, by role.
    pub quota: QuotaConfig,
}

impl Default for RevealConfig {
    fn default() -> Self {
        Self {
            policy_dir: String::new(),
            grace_secs: 86_400,
            break_glass_secs: 900,
            quota: QuotaConfig::default(),
        }
    }
}

/// `[reveal.quota]`: per-principal reveal quotas by role. A courier's day
/// is about 150 deliveries, a phone call and perhaps an address each.
/// Env: `PARCELGUARD_REVEAL_QUOTA_<KEY>` (e.g. `…_COURIER_PER_DAY`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Default 80.
    pub courier_per_hour: u64,
    /// Default 400.
    pub courier_per_day: u64,
    /// Default 40.
    pub customer_service_per_hour: u64,
    /// Default 200.
    pub customer_service_per_day: u64,
    /// Default 30.
    pub station_manager_per_hour: u64,
    /// Default 120.
    pub station_manager_per_day: u64,
    /// Default 10.
    pub admin_per_hour: u64,
    /// Default 40.
    pub admin_per_day: u64,
    /// Reveals of a principal's quota a server takes from the database at
    /// once and hands out itself, so most reveals write nothing. Never
    /// more than a quarter of what is left; leased reveals not used when
    /// the server stops are lost to the principal for that window. 1
    /// counts every reveal in the database. Default 8.
    pub lease: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            courier_per_hour: 80,
            courier_per_day: 400,
            customer_service_per_hour: 40,
            customer_service_per_day: 200,
            station_manager_per_hour: 30,
            station_manager_per_day: 120,
            admin_per_hour: 10,
            admin_per_day: 40,
            lease: 8,
        }
    }
}

impl QuotaConfig {
    /// `(per hour, per day)` for a role; 0 for roles that never reveal.
    pub fn for_role(&self, role: &str) -> (u64, u64) {
        match role {
            "courier" => (self.courier_per_hour, self.courier_per_day),
            "customer_service" => (
                self.customer_service_per_hour,
                self.customer_service_per_day,
            ),
            "station_manager" => (self.station_manager_per_hour, self.station_manager_per_day),
            "admin" => (self.admin_per_hour, self.admin_per_day),
            _ => (0, 0),
        }
    }
}

/// `[auth]` section: OIDC tokens from the company's single sign-on, mapped
/// to principals by a claim. Off while `jwks` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The identity provider's key set: a file path or an `https://` URL.
    /// Env: `PARCELGUARD_AUTH_JWKS`.
    pub jwks: String,
    /// Required `iss`. Env: `PARCELGUARD_AUTH_ISSUER`.
    pub issuer: String,
    /// Required `aud`. Default `parcelguard`. Env: `PARCELGUARD_AUTH_AUDIENCE`.
    pub audience: String,
    /// Claim holding the principal id. Default `sub`.
    /// Env: `PARCELGUARD_AUTH_CLAIM`.
    pub claim: String,
    /// Clock skew allowed on `exp`/`nbf`, seconds. Default 60.
    /// Env: `PARCELGUARD_AUTH_LEEWAY_SECS`.
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwks: String::new(),
            issuer: String::new(),
            audience: "parcelguard".to_owned(),
            claim: "sub".to_owned(),
            leeway_secs: 60,
        }
    }
}

/// `[database]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty (default): the embedded SQLite file `DATA_DIR/parcelguard.db`.
    /// `postgres://user@host:5432/db` for PostgreSQL, `sqlite://PATH` for
    /// another SQLite file. Env: `PARCELGUARD_DATABASE_URL`.
    pub url: String,
}

/// `[vault]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    /// Tenant used by the command line (`import`, `keys`). Default `default`.
    /// Env: `PARCELGUARD_VAULT_TENANT`.
    pub tenant: String,
    /// Days personal data is kept after delivery or return; then it is
    /// crypto-shredded. Default 180. Env: `PARCELGUARD_VAULT_RETENTION_DAYS`.
    pub retention_days: u64,
    /// Masking profile (GB/T 41833-2022; weaker profiles are rejected).
    pub mask: MaskConfig,
}

/// `[vault.mask]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// `surname` (张**, default) or `all` (***).
    /// Env: `PARCELGUARD_VAULT_MASK_NAME`.
    pub name: String,
    /// Leading phone digits shown (default 3). Prefix + suffix at most 5.
    /// Env: `PARCELGUARD_VAULT_MASK_PHONE_KEEP_PREFIX`.
    pub phone_keep_prefix: u32,
    /// Trailing phone digits shown (default 2).
    /// Env: `PARCELGUARD_VAULT_MASK_PHONE_KEEP_SUFFIX`.
    pub phone_keep_suffix: u32,
    /// `road` (numbers hidden, default) or `district` (only up to district).
    /// Env: `PARCELGUARD_VAULT_MASK_ADDRESS`.
    pub address: String,
    /// Leading ID-number characters shown (default 1, at most 6).
    /// Env: `PARCELGUARD_VAULT_MASK_ID_KEEP_PREFIX`.
    pub id_keep_prefix: u32,
    /// Trailing ID-number characters shown (default 1, at most 4).
    /// Env: `PARCELGUARD_VAULT_MASK_ID_KEEP_SUFFIX`.
    pub id_keep_suffix: u32,
}

/// `[server]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address. Default `127.0.0.1:8080`. Env: `PARCELGUARD_SERVER_LISTEN`.
    pub listen: String,
    /// Largest request body in bytes (a 10,000-shipment batch fits the
    /// default, 32 MiB). Env: `PARCELGUARD_SERVER_MAX_BODY_BYTES`.
    pub max_body_bytes: u64,
    /// PEM certificate chain for HTTPS; with `tls_key`, `serve` speaks TLS
    /// (rustls) on any address. Empty (default): plain HTTP, loopback only
    /// unless `--insecure-listen`. Env: `PARCELGUARD_SERVER_TLS_CERT`.
    pub tls_cert: String,
    /// PEM private key of `tls_cert`. Env: `PARCELGUARD_SERVER_TLS_KEY`.
    pub tls_key: String,
    /// Requests per second one credential (or, without one, one client
    /// address) may make; 0 turns the limit off. Default 1000.
    /// Env: `PARCELGUARD_SERVER_RATE_LIMIT_PER_SEC`.
    pub rate_limit_per_sec: u32,
    /// Requests one credential may make at once above the rate. Default
    /// 2000. Env: `PARCELGUARD_SERVER_RATE_LIMIT_BURST`.
    pub rate_limit_burst: u32,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            tenant: "default".to_owned(),
            retention_days: 180,
            mask: MaskConfig::default(),
        }
    }
}

impl Default for MaskConfig {
    fn default() -> Self {
        Self {
            name: "surname".to_owned(),
            phone_keep_prefix: 3,
            phone_keep_suffix: 2,
            address: "road".to_owned(),
            id_keep_prefix: 1,
            id_keep_suffix: 1,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 32 * 1024 * 1024,
            tls_cert: String::new(),
            tls_key: String::new(),
            rate_limit_per_sec: 1000,
            rate_limit_burst: 2000,
        }
    }
}

/// `[log]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json`. Env: `PARCELGUARD_LOG_FORMAT`.
    pub format: String,
    /// Level filter (`error`, `warn`, `info`, `debug`, `trace`, or per-crate
    /// directives such as `parcel_scan=debug`). Default `info`.
    /// Env: `PARCELGUARD_LOG_LEVEL`.
    pub level: String,
}

/// `[keys]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// `file` (default: `DATA_DIR/keys/root.key`, made by `parcelguard init`),
    /// `env` (base64 root key in the variable named by `env_var`) or `pkcs11`
    /// (keys inside a hardware security module; see `pkcs11_*`).
    /// Env: `PARCELGUARD_KEYS_PROVIDER`.
    pub provider: String,
    /// Variable holding the root key when `provider = "env"`.
    /// Default `PARCELGUARD_ROOT_KEY`. Env: `PARCELGUARD_KEYS_ENV_VAR`.
    pub env_var: String,
    /// PKCS#11 module when `provider = "pkcs11"`, e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`. Env: `PARCELGUARD_KEYS_PKCS11_MODULE`.
    pub pkcs11_module: String,
    /// Label of the token holding parcelguard's keys. Default `parcelguard`.
    /// Env: `PARCELGUARD_KEYS_PKCS11_TOKEN`.
    pub pkcs11_token: String,
    /// Variable holding the token's user PIN (never put the PIN in the file).
    /// Default `PARCELGUARD_PKCS11_PIN`. Env: `PARCELGUARD_KEYS_PKCS11_PIN_ENV`.
    pub pkcs11_pin_env: String,
}

/// `[tlog]` section: the transparency log of every access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlogConfig {
    /// The log's origin line and key name, a schema-less URL naming this
    /// deployment (no spaces or `+`). Default `parcelguard.local/log`.
    /// Env: `PARCELGUARD_TLOG_ORIGIN`.
    pub origin: String,
    /// Witnesses asked to cosign each checkpoint, each `URL VKEY` (the
    /// witness's submission prefix and verifier key). Env:
    /// `PARCELGUARD_TLOG_WITNESSES`, comma-separated.
    pub witnesses: Vec<String>,
    /// Cosignatures of distinct configured witnesses a verifier requires
    /// (`log verify`, `log check-receipt`). Default 0.
    /// Env: `PARCELGUARD_TLOG_QUORUM`.
    pub quorum: u64,
    /// Most milliseconds between a new entry and a signed checkpoint that
    /// covers it. Default 1000. Env: `PARCELGUARD_TLOG_CHECKPOINT_INTERVAL_MS`.
    pub checkpoint_interval_ms: u64,
}

impl Default for TlogConfig {
    fn default() -> Self {
        Self {
            origin: "parcelguard.local/log".to_owned(),
            witnesses: Vec::new(),
            quorum: 0,
            checkpoint_interval_ms: 1000,
        }
    }
}

/// `[scan]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Worker threads; 0 (default) means one per core.
    /// Env: `PARCELGUARD_SCAN_JOBS`.
    pub jobs: u64,
    /// Findings scoring below this are dropped. Default 0.5.
    /// Env: `PARCELGUARD_SCAN_MIN_SCORE`.
    pub min_score: f64,
    /// Search hidden files and folders. Default false.
    /// Env: `PARCELGUARD_SCAN_HIDDEN`.
    pub hidden: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./parcelguard-data"),
            log: LogConfig::default(),
            keys: KeysConfig::default(),
            scan: ScanConfig::default(),
            database: DatabaseConfig::default(),
            vault: VaultConfig::default(),
            server: ServerConfig::default(),
            tlog: TlogConfig::default(),
            reveal: RevealConfig::default(),
            auth: AuthConfig::default(),
            risk: RiskConfig::default(),
            numbers: NumbersConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "human".to_owned(),
            level: "info".to_owned(),
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            provider: "file".to_owned(),
            env_var: "PARCELGUARD_ROOT_KEY".to_owned(),
            pkcs11_module: String::new(),
            pkcs11_token: "parcelguard".to_owned(),
            pkcs11_pin_env: "PARCELGUARD_PKCS11_PIN".to_owned(),
        }
    }
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            jobs: 0,
            min_score: 0.5,
            hidden: false,
        }
    }
}

/// Errors from loading the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// An environment variable holds a value of the wrong type.
    #[error("environment variable {var}: expected {expected}")]
    Env {
        /// The variable.
        var: String,
        /// The type the key needs.
        expected: &'static str,
    },
    /// A value is of the right type but not allowed.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key path.
        key: String,
        /// What is allowed.
        message: String,
    },
}

/// Where the configuration came from, for `--help`-style reporting.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The merged configuration.
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Every overridable key: dotted path and its environment variable name.
    pub fn keys() -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(toml::Value::Table(table)) = toml::Value::try_from(Config::default()) {
            walk_leaves(&table, "", &mut |path, _| {
                out.push((path.to_owned(), env_name(path)));
            });
        }
        out
    }

    /// Loads the configuration.
    ///
    /// `explicit` is the `--config` path; without it `PARCELGUARD_CONFIG` is
    /// used, then `./parcelguard.toml` if it exists. An explicitly named file
    /// that does not exist is an error. `env` supplies environment variables
    /// (pass `std::env::vars()`), which keeps tests hermetic.
    pub fn load(
        explicit: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let named = explicit
            .map(Path::to_path_buf)
            .or_else(|| env.get(CONFIG_ENV).map(PathBuf::from));
        let file = match named {
            Some(p) => Some(p),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };

        let defaults =
            toml::Value::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
                key: "(defaults)".to_owned(),
                message: e.to_string(),
            })?;
        let mut merged = match &defaults {
            toml::Value::Table(t) => t.clone(),
            _ => toml::Table::new(),
        };

        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
            // Type-check the file text itself so errors carry its line and
            // column (every field has a default, so a partial file is fine).
            toml::from_str::<Config>(&text).map_err(|e| parse_error(path, &text, &e))?;
            merge(&mut merged, table);
        }

        if let toml::Value::Table(def) = &defaults {
            let mut overrides = Vec::new();
            walk_leaves(def, "", &mut |path, default| {
                overrides.push((path.to_owned(), default.clone()));
            });
            for (path, default) in overrides {
                let var = env_name(&path);
                if let Some(raw) = env.get(&var) {
                    let value = parse_env_value(&var, raw, &default)?;
                    set_path(&mut merged, &path, value);
                }
            }
        }

        let config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    key: "(environment)".to_owned(),
                    message: e.message().to_owned(),
                })?;
        config.validate()?;
        Ok(Loaded { config, file })
    }

    /// Checks values whose type is right but whose content may not be.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.to_owned(),
            message: message.to_owned(),
        };
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(invalid("log.format", "must be `human` or `json`"));
        }
        if !matches!(self.keys.provider.as_str(), "file" | "env" | "pkcs11") {
            return Err(invalid(
                "keys.provider",
                "must be `file`, `env` or `pkcs11`",
            ));
        }
        if self.keys.provider == "pkcs11" && self.keys.pkcs11_module.is_empty() {
            return Err(invalid(
                "keys.pkcs11_module",
                "must name the PKCS#11 module when keys.provider is `pkcs11`",
            ));
        }
        if !matches!(self.vault.mask.name.as_str(), "surname" | "all") {
            return Err(invalid("vault.mask.name", "must be `surname` or `all`"));
        }
        if !matches!(self.vault.mask.address.as_str(), "road" | "district") {
            return Err(invalid(
                "vault.mask.address",
                "must be `road` or `district`",
            ));
        }
        if self.vault.tenant.is_empty() {
            return Err(invalid("vault.tenant", "must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.scan.min_score) {
            return Err(invalid("scan.min_score", "must be between 0 and 1"));
        }
        Ok(())
    }
}

/// `scan.min_score` → `PARCELGUARD_SCAN_MIN_SCORE`.
pub fn env_name(path: &str) -> String {
    format!("{ENV_PREFIX}{}", path.replace('.', "_").to_uppercase())
}

fn walk_leaves(table: &toml::Table, prefix: &str, f: &mut dyn FnMut(&str, &toml::Value)) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => walk_leaves(t, &path, f),
            leaf => f(&path, leaf),
        }
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(dst)), toml::Value::Table(src)) => merge(dst, src),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = table;
    for part in parts {
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        cur = next;
    }
    cur.insert(last.to_owned(), value);
}

fn parse_env_value(
    var: &str,
    raw: &str,
    default: &toml::Value,
) -> Result<toml::Value, ConfigError> {
    let err = |expected| ConfigError::Env {
        var: var.to_owned(),
        expected,
    };
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| err("an integer"))?)
        }
        toml::Value::Float(_) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| err("a number"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(err("true or false")),
        }),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e
        .span()
        .map(|span| line_col(text, span.start))
        .unwrap_or((0, 0));
    ConfigError::Parse {
        path: path.display().to_string(),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing_default = dir.path().join("nothing-here.toml");
        // No explicit file, no env: defaults (cwd may or may not hold a file,
        // so point PARCELGUARD_CONFIG at an empty one).
        std::fs::write(&missing_default, "").unwrap();
        let loaded = Config::load(
            None,
            env(&[(CONFIG_ENV, missing_default.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(loaded.config, Config::default());
    }

    #[test]
    fn every_key_has_an_env_override() {
        let keys = Config::keys();
        let names: Vec<&str> = keys.iter().map(|(_, v)| v.as_str()).collect();
        for expected in [
            "PARCELGUARD_DATA_DIR",
            "PARCELGUARD_LOG_FORMAT",
            "PARCELGUARD_LOG_LEVEL",
            "PARCELGUARD_KEYS_PROVIDER",
            "PARCELGUARD_KEYS_ENV_VAR",
            "PARCELGUARD_SCAN_JOBS",
            "PARCELGUARD_SCAN_MIN_SCORE",
            "PARCELGUARD_SCAN_HIDDEN",
        ] {
            assert!(names.contains(&expected), "missing {expected}");
        }
    }

    #[test]
    fn env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/pg\"\n[scan]\njobs = 3\nmin_score = 0.7\n",
        )
        .unwrap();
        let loaded = Config::load(
            Some(&path),
            env(&[
                ("PARCELGUARD_SCAN_JOBS", "5"),
                ("PARCELGUARD_SCAN_HIDDEN", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.config.data_dir, PathBuf::from("/srv/pg"));
        assert_eq!(loaded.config.scan.jobs, 5);
        assert!(loaded.config.scan.hidden);
        assert!((loaded.config.scan.min_score - 0.7).abs() < 1e-9);
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn list_keys_take_comma_separated_env_values() {
        let loaded = Config::load(
            None,
            env(&[
                ("PARCELGUARD_CONFIG", "/nonexistent-but-unused"),
                (
                    "PARCELGUARD_TLOG_WITNESSES",
                    "http://127.0.0.1:9001 w1+0a0b0c0d+BA==, http://127.0.0.1:9002 w2+01020304+BA==",
                ),
                ("PARCELGUARD_TLOG_QUORUM", "2"),
            ]),
        );
        // The named file does not exist: that is an error, as for --config.
        assert!(loaded.is_err());
        let loaded = Config::load(
            None,
            env(&[(
                "PARCELGUARD_TLOG_WITNESSES",
                "http://127.0.0.1:9001 w1+0a0b0c0d+BA==, http://127.0.0.1:9002 w2+01020304+BA==",
            )]),
        )
        .unwrap();
        assert_eq!(loaded.config.tlog.witnesses.len(), 2);
        assert_eq!(
            loaded.config.tlog.witnesses[1],
            "http://127.0.0.1:9002 w2+01020304+BA=="
        );
    }

    #[test]
    fn errors_name_the_location() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        let cases: &[(&str, &str)] = &[
            ("[scan]\njobs = \"many\"\n", ":2:"),
            ("[scan]\nunknown_key = 1\n", "unknown field"),
            ("data_dir = \n", ":1:"),
        ];
        for (text, needle) in cases {
            std::fs::write(&path, text).unwrap();
            let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
            assert!(err.contains("bad.toml"), "{err}");
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let err = Config::load(Some(&dir.path().join("absent.toml")), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        std::fs::write(&path, "").unwrap();
        let err = Config::load(Some(&path), env(&[("PARCELGUARD_SCAN_JOBS", "x")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable PARCELGUARD_SCAN_JOBS: expected an integer"
        );
        let err = Config::load(Some(&path), env(&[("PARCELGUARD_LOG_FORMAT", "xml")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("log.format:"), "{err}");
    }
}
