//! Command-line definitions (clap derive). Each subcommand appears here only
//! once it really works.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// parcelguard keeps the personal data on parcel waybills sealed.
///
/// Start with `parcelguard init`, then find personal data that escaped into
/// logs and exports with `parcelguard scan DIR`, and write cleaned copies
/// with `parcelguard redact FILE -o OUT`.
#[derive(Debug, Parser)]
#[command(name = "parcelguard", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after any subcommand.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Configuration file [env: PARCELGUARD_CONFIG] [default: ./parcelguard.toml if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding keys and the database [env: PARCELGUARD_DATA_DIR] [default: ./parcelguard-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format on stderr [env: PARCELGUARD_LOG_FORMAT] [default: human].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Log level filter, e.g. `warn` or `parcel_scan=debug` [env: PARCELGUARD_LOG_LEVEL] [default: info].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Vault database: `postgres://USER@HOST:PORT/DB`, or `sqlite://PATH`
    /// [env: PARCELGUARD_DATABASE_URL] [default: DATA_DIR/parcelguard.db].
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the data directory, keys (mode 0600), the database and the
    /// first admin API key.
    ///
    /// Refuses to overwrite an existing key.
    Init,
    /// Serve the HTTP API (shipments, search, erasure).
    Serve(ServeArgs),
    /// Import shipments from CSV or JSONL (optionally gzipped) into the vault.
    ///
    /// CSV needs a header row naming at least waybill_no, carrier,
    /// sender_name, sender_phone, sender_address, sender_id_number,
    /// recipient_name, recipient_phone, recipient_address (optionally
    /// station, origin_station, courier). JSONL lines are shaped like the
    /// body of POST /v1/shipments. A file with any invalid record imports
    /// nothing unless --skip-invalid is given.
    Import(ImportArgs),
    /// Key management: rotation, retirement, retention shredding.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The transparency log: its key, offline verification, receipts.
    #[command(subcommand)]
    Log(LogCommand),
    /// Reveal policies (Cedar): validate a directory, run test cases.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print privacy waybill labels: masked parties, the privacy number,
    /// the sort code, a Code 128 barcode and the QR token.
    ///
    /// The output's extension picks the format: `.png`, `.pdf` or `.zpl`
    /// (thermal printers). `--batch` prints a day's shipments into one PDF
    /// or ZPL file; an unknown waybill in the batch prints nothing.
    Label(LabelArgs),
    /// Privacy numbers (AXB): load a pool, set employees' contact phones,
    /// list live bindings.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Run a witness that cosigns a log's checkpoints (C2SP tlog-witness).
    ///
    /// Run it in the witness operator's own data directory (after
    /// `parcelguard init` there): its key must not be the log's.
    Witness(WitnessArgs),
    /// Find personal data in files, directories or stdin.
    ///
    /// Exit status: 0 when nothing is found, 1 when something is found,
    /// 2 on errors (unreadable files, broken gzip, invalid UTF-8).
    Scan(ScanArgs),
    /// Write a copy of a file with personal data replaced.
    Redact(RedactArgs),
    /// Replay access events through the insider-risk detector.
    ///
    /// Reads one JSON object per line (ts, actor, action and optional
    /// role, station, waybill_no, customer, field, purpose, assigned,
    /// device, ip, count, reason), in time order, optionally gzipped, and
    /// writes at most the daily budget of alerts as JSON lines. Malformed
    /// lines are reported with their line number and skipped. Exit status:
    /// 0 when no alert was raised, 1 when one was, 2 on errors.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Access events, JSON lines (`.gz` read transparently); `-` is stdin.
    #[arg(long, value_name = "FILE")]
    pub events: String,
    /// The daily alert budget K: at most this many alerts a day (fractions
    /// carry over). The guide: 5 per 1,000 employees.
    #[arg(long, value_name = "K", default_value_t = 5.0)]
    pub alerts_per_day: f64,
    /// Where alerts go (JSON lines); stdout when absent.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Local time's offset from UTC: days, shifts and the budget follow it.
    #[arg(long, value_name = "±HH:MM", default_value = "+08:00")]
    pub utc_offset: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// One JSON object per finding.
    Jsonl,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
    /// Aligned columns (the default on a terminal).
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShowValues {
    /// GB/T 41833 masks (138******78).
    Masked,
    /// Full values: handle the output as personal data.
    Full,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories to scan; `-` reads stdin. `.gz` files are read
    /// transparently. Directories honour .gitignore, .ignore and
    /// .parcelguardignore. Without a path: stdin when it is piped, else `.`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Report only these types (comma-separated), e.g. cn_mobile,cn_resident_id.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Drop findings scoring below this (0-1) [default: scan.min_score, 0.5].
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Explain why each finding scored as it did.
    #[arg(long)]
    pub explain: bool,
    /// Include values: masked by default, `--show-values=full` for full ones.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "masked")]
    pub show_values: Option<ShowValues>,
    /// Worker threads [default: scan.jobs, 0 = one per core].
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Also scan hidden files and folders.
    #[arg(long)]
    pub hidden: bool,
    /// Include or exclude (`!GLOB`) paths, as in ripgrep; repeatable.
    #[arg(short = 'g', long = "glob", value_name = "GLOB")]
    pub globs: Vec<String>,
    /// Do not print the summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RedactArgs {
    /// File to redact (`-` for stdin; `.gz` read transparently).
    #[arg(value_name = "IN")]
    pub input: String,
    /// Where to write the copy (`.gz` compresses) [default: stdout].
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Operator, for all types or one: `mask` (default), `tag`, `hash`
    /// (keyed HMAC), `fpe` (FF1 on digits); e.g. `--op hash --op cn_name=mask`.
    #[arg(long = "op", value_name = "[TYPE=]OP")]
    pub ops: Vec<String>,
    /// Redact only these types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Leave findings scoring below this (0-1) [default: scan.min_score].
    #[arg(long)]
    pub min_score: Option<f32>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: server.listen, 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS proxy).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Start a simulated depot instead of the configured vault: a fresh
    /// demo data directory, ~100 employees and ~20,000 shipments seeded
    /// through the API, a light workload and one insider. Prints the
    /// console's address and demo API keys for each role.
    #[arg(long)]
    pub demo: bool,
    /// The demo's data directory (recreated at each start; only a directory
    /// an earlier demo made is ever removed).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "parcelguard-demo",
        requires = "demo"
    )]
    pub demo_dir: PathBuf,
    /// Shipments the demo seeds.
    #[arg(long, value_name = "N", default_value_t = 20_000, requires = "demo")]
    pub demo_shipments: usize,
    /// Seconds of normal work, after seeding, before the demo's insider
    /// starts harvesting.
    #[arg(long, value_name = "SECS", default_value_t = 45, requires = "demo")]
    pub demo_insider_after: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file: `.csv`, `.jsonl`, either optionally `.gz`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Import the valid records and skip invalid or duplicate ones.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new key-encryption key and re-wrap every data key with it
    /// (safe while servers run).
    Rotate,
    /// Destroy key-encryption keys that no data key uses any more.
    Retire,
    /// Purge shipments past retention and destroy data keys of closed
    /// periods that protect nothing else (crypto-shredding).
    PurgeExpired,
    /// Make an API key for a principal (created first when --role is
    /// given). The secret is shown once and stored only as a hash.
    CreateApiKey {
        /// Principal id (`E1001`, `order-system`).
        #[arg(long)]
        principal: String,
        /// Create (or update) the principal with this role: courier,
        /// station_manager, customer_service, security_auditor, admin, service.
        #[arg(long)]
        role: Option<String>,
        /// The principal's station (station-bound roles).
        #[arg(long)]
        station: Option<String>,
        /// Days until the key expires.
        #[arg(long, default_value_t = 90)]
        expires_in_days: i64,
    },
    /// Revoke an API key by its id (`k_…`).
    Revoke {
        /// The key id, as `keys list` shows it.
        id: String,
    },
    /// List API keys (ids, owners, expiry; never secrets).
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Parse the `.cedar` files of DIR and validate them strictly against
    /// parcelguard's schema. Exit status 1 when any problem is found.
    Validate {
        /// Directory of `.cedar` files.
        dir: PathBuf,
    },
    /// Run a file of request → expected decision cases against DIR's
    /// policies. Exit status 1 when any case fails.
    Test {
        /// Directory of `.cedar` files.
        dir: PathBuf,
        /// The cases (TOML; see policies/cases.toml).
        cases: PathBuf,
    },
    /// Print the Cedar schema the policies are validated against.
    Schema,
}

#[derive(Debug, Args)]
pub(crate) struct LabelArgs {
    /// The shipment's waybill number.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    pub waybill_no: Option<String>,
    /// A file of waybill numbers, one per line (`#` comments allowed).
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
    /// Where to write; `.png`, `.pdf` or `.zpl`.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Label size in millimetres: `100x150` or `76x130`.
    #[arg(long, default_value = "100x150")]
    pub size: String,
    /// PNG resolution (ZPL is always 203 dpi).
    #[arg(long, default_value_t = 203)]
    pub dpi: u32,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NumbersCommand {
    /// Add virtual numbers from FILE (one `city,number` per line, `#`
    /// comments, optional header) to the tenant's pool. A malformed line
    /// is reported with its line number and nothing is added.
    LoadPool {
        /// The pool file.
        file: PathBuf,
    },
    /// Set an employee's contact phone (the courier's side of their
    /// bindings), read from stdin so that it stays out of shell history.
    SetPhone {
        /// The employee's principal id.
        principal: String,
    },
    /// List the pool (numbers per city) and the live bindings (virtual
    /// numbers and times, never a real phone).
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Print the log's verifier key (`name+keyhash+base64`), for auditors.
    Vkey,
    /// Verify a published log end to end: signatures, every entry and tile,
    /// the root, and consistency with a checkpoint saved earlier.
    ///
    /// Exit status 0 when the log verifies, 1 when it does not.
    Verify {
        /// The log's URL prefix (`https://host/log`).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// A directory written by `log export` (or a static mirror).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// A checkpoint file from an earlier run: the log must extend it.
        /// Updated with the new checkpoint when verification succeeds.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Print (or write) the receipt of entry INDEX: the entry, a signed
    /// checkpoint and the inclusion proof.
    Prove {
        /// The entry's index.
        index: u64,
        /// Write the receipt to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a receipt offline with the log's (and witnesses') keys.
    ///
    /// Exit status 0 when it verifies, 1 when it does not.
    CheckReceipt {
        /// The receipt (JSON, as `log prove` or `/v1/log/receipt` give it).
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Write the log as static files (checkpoint, tiles, entry bundles).
    Export {
        /// Target directory.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// The log's verifier key [default: derived from the local key store].
    #[arg(long, value_name = "VKEY")]
    pub vkey: Option<String>,
    /// A witness's verifier key; repeatable [default: tlog.witnesses].
    #[arg(long, value_name = "VKEY")]
    pub witness: Vec<String>,
    /// Cosignatures required from distinct witnesses [default: tlog.quorum].
    #[arg(long, value_name = "K")]
    pub quorum: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct WitnessArgs {
    /// The witness's name, a schema-less URL (`privacy-office.example/w1`).
    #[arg(long)]
    pub name: String,
    /// Verifier key of a log to witness; repeatable.
    #[arg(long, value_name = "VKEY")]
    pub log: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "HOST:PORT")]
    pub listen: String,
    /// Allow plain HTTP on a non-loopback address (behind a TLS proxy).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Print the witness's verifier key and exit.
    #[arg(long)]
    pub vkey: bool,
}
