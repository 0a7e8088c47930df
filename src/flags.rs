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
