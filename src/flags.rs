//! Command-line flags (clap derive): raw values only; lowering into typed
//! run settings happens in each subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Proves from the wire that backup, cluster, migration and client traffic
/// each stay on their intended network.
#[derive(Parser, Debug)]
#[command(name = "lanecheck", version, about, long_about = None)]
pub struct Cli {
    /// Log level for stderr diagnostics (error, warn, info, debug, trace); RUST_LOG wins.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every flow of one or more capture files (like tshark's
    /// conversation table, but exact: wire bytes, per direction, with
    /// interfaces, VLANs and Community IDs).
    Flows(FlowsArgs),
    /// Audit capture files against a policy: classes, networks, NICs,
    /// throughput percentiles, violations with evidence. Exit 0 pass,
    /// 1 violation, 2 error.
    Audit(AuditArgs),
    /// Write and check policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

/// `lanecheck policy …`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file: print a summary (networks, classes and where
    /// each may travel) or every error with file:line:column (exit 2).
    Check {
        /// The policy file (TOML).
        file: PathBuf,
    },
}

/// `lanecheck audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The policy file (TOML; see docs/policy.md).
    #[arg(long, short, value_name = "FILE")]
    pub policy: PathBuf,
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Throughput bin length: 500ms, 1s, 2m…; bins are aligned to the Unix epoch.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub bin: String,
    /// Also list every flow with its class, reason, networks and status.
    #[arg(long)]
    pub flows: bool,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    Text,
    /// One JSON document (see docs/json.md).
    Json,
}

/// Options shared by every command that reads capture files.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Capture files (pcap or pcapng), `-` for standard input. `PATH=NAME`
    /// names the interface of a capture that does not name it (classic pcap).
    #[arg(value_name = "CAPTURE", required = true)]
    pub captures: Vec<String>,
    /// Most flows held in memory at once; the least recently seen are evicted
    /// (and still counted) beyond it.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// A flow idle this long (in packet time) is closed: 500ms, 60s, 2m, 1h;
    /// a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub idle_timeout: String,
}

/// `lanecheck flows`.
#[derive(Args, Debug)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the output to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}
