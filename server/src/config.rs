//! Command line and environment: every flag has an `EDGESKETCH_*` equivalent.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The edgesketch merge server.
#[derive(Debug, Parser)]
#[command(name = "edgesketch-server", version, about)]
pub struct Cli {
    /// What to run (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings (for `serve`, and for the server that `demo` starts).
    #[command(flatten)]
    pub server: ServerConfig,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the merge server (the default).
    Serve,
    /// Run the server plus a fleet of synthetic edge workers sending it real envelopes.
    Demo(DemoConfig),
    /// Print the SHA-256 digest of a token, for the tenants file.
    HashToken {
        /// The token (it is only hashed, never stored).
        token: String,
    },
}

/// The server's settings.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "EDGESKETCH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "EDGESKETCH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Tenants and their hashed tokens (TOML; see docs/OPERATIONS.md). Required unless --open.
    #[arg(long, env = "EDGESKETCH_TENANTS")]
    pub tenants: Option<PathBuf>,
    /// No authentication: every request acts for the single tenant `public`. For local use only.
    /// (Not with --tenants; checked when serving, not by clap, which counted
    /// `EDGESKETCH_OPEN=0` as given.)
    #[arg(
        long,
        env = "EDGESKETCH_OPEN",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub open: bool,
    /// Origins allowed to call the API from browsers (CORS); repeat or comma-separate.
    #[arg(long, env = "EDGESKETCH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes (as sent, before gzip decompression).
    #[arg(long, env = "EDGESKETCH_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Largest envelope accepted after gzip decompression, in bytes.
    #[arg(long, env = "EDGESKETCH_MAX_ENVELOPE_BYTES", default_value_t = 8 << 20)]
    pub max_envelope_bytes: usize,
    /// Most entries (keys) in one envelope.
    #[arg(long, env = "EDGESKETCH_MAX_ENTRIES", default_value_t = 1024)]
    pub max_entries: usize,
    /// Longest key accepted, in bytes (the format's own limit is 1024).
    #[arg(long, env = "EDGESKETCH_MAX_KEY_BYTES", default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub max_key_bytes: usize,
    /// Most keys one tenant may hold (default for tenants without their own `max_keys`).
    #[arg(
        long,
        env = "EDGESKETCH_MAX_KEYS_PER_TENANT",
        default_value_t = 100_000
    )]
    pub max_keys_per_tenant: u64,
    /// Most bytes of stored sketches one tenant may hold (encoded size; default for tenants
    /// without their own `max_bytes`).
    #[arg(long, env = "EDGESKETCH_MAX_BYTES_PER_TENANT", default_value_t = 1 << 30)]
    pub max_bytes_per_tenant: u64,
    /// Memory for hot sketches, in bytes of their encoded size (least recently used go first).
    #[arg(long, env = "EDGESKETCH_CACHE_BYTES", default_value_t = 256 << 20)]
    pub cache_bytes: usize,
    /// Most envelopes committed in one transaction.
    #[arg(long, env = "EDGESKETCH_BATCH_MAX", default_value_t = 256)]
    pub batch_max: usize,
    /// How long a batch waits for more envelopes after its first, in milliseconds. 0: a batch is
    /// what is queued when the writer is free (envelopes arriving during a commit form the next
    /// one, so batches grow with the commit's time by themselves).
    #[arg(long, env = "EDGESKETCH_BATCH_WAIT_MS", default_value_t = 0)]
    pub batch_wait_ms: u64,
    /// Envelopes waiting for the writer; beyond this ingest answers 503 with Retry-After.
    #[arg(long, env = "EDGESKETCH_QUEUE", default_value_t = 4096)]
    pub queue: usize,
    /// A request body must arrive within this many milliseconds (else 408).
    #[arg(long, env = "EDGESKETCH_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// A request's headers must arrive within this many milliseconds of the connection's start
    /// (or of its previous response); else the connection is closed.
    #[arg(long, env = "EDGESKETCH_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Open connections at most; further ones wait in the listen backlog until one closes.
    /// Keep it below the process's open-file limit (`ulimit -n`).
    #[arg(long, env = "EDGESKETCH_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// A sequence gap is reported as drift once it has stayed open this many seconds.
    #[arg(long, env = "EDGESKETCH_DRIFT_GRACE_SECS", default_value_t = 60)]
    pub drift_grace_secs: u64,
    /// Seconds between background maintenance rounds (retention of series, idle senders).
    #[arg(long, env = "EDGESKETCH_MAINTENANCE_SECS", default_value_t = 60)]
    pub maintenance_secs: u64,
    /// Bucket width of the background roll-ups of series (window counters and unique series
    /// with finer buckets get a coarser copy under `<key>@<width>ms` that keeps longer); 0 turns
    /// roll-ups off.
    #[arg(long, env = "EDGESKETCH_ROLLUP_BUCKET_MS", default_value_t = 60_000)]
    pub rollup_bucket_ms: u64,
    /// How long roll-ups keep their buckets, in milliseconds (default 30 days).
    #[arg(long, env = "EDGESKETCH_ROLLUP_RETENTION_MS", default_value_t = 30 * 86_400_000)]
    pub rollup_retention_ms: u64,
    /// Directory of the dashboard served at `/` (the built `www/`); a built-in page if absent.
    #[arg(long, env = "EDGESKETCH_WWW_DIR", default_value = "./www")]
    pub www_dir: PathBuf,
}

impl ServerConfig {
    /// Defaults as if no flag was given, with the store in `data_dir` (for tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let mut config = Cli::parse_from(["edgesketch-server", "--open"]).server;
        config.data_dir = data_dir;
        config
    }
}

/// The demo's settings.
#[derive(Debug, Clone, Args)]
pub struct DemoConfig {
    /// Simulated edge workers (each one a sender with its own replica id).
    #[arg(long, env = "EDGESKETCH_DEMO_WORKERS", default_value_t = 8)]
    pub workers: usize,
    /// Events per second across all workers.
    #[arg(long, env = "EDGESKETCH_DEMO_RATE", default_value_t = 2_000)]
    pub rate: u64,
    /// Milliseconds between a worker's flushes.
    #[arg(long, env = "EDGESKETCH_DEMO_FLUSH_MS", default_value_t = 1_000)]
    pub flush_ms: u64,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, env = "EDGESKETCH_DEMO_SECONDS")]
    pub seconds: Option<u64>,
    /// Stop the edge workers after this many seconds but keep serving (the data then holds still,
    /// for a look at the dashboard or a test comparing it with the API).
    #[arg(long, env = "EDGESKETCH_DEMO_TRAFFIC_SECONDS")]
    pub traffic_seconds: Option<u64>,
}
