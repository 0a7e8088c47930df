//! Command-line flags (clap derive): raw values only; lowering into typed
//! run settings happens in each subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Proves from the wire that backup, cluster, migration and client traffic
/// each stay on their intended network.
///
/// lanecheck reads captures (`audit`, `flows`: pcap or pcapng files) or
/// captures live (`verify` around a command, `watch` as a daemon), follows
/// every flow, classifies it (ports, roles, SMB and DCE/RPC evidence) and
/// checks each class against a policy file (docs/policy.md): which networks
/// and NICs it may use. Reports are text, JSON (docs/json.md) or one
/// self-contained HTML page with throughput charts; the exit code is the
/// verdict.
#[derive(Parser, Debug)]
#[command(name = "lanecheck", version, about)]
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
    /// 1 violation, 2 error, 3 inconclusive (no packet read, or an
    /// --expect class not seen with --min-bytes).
    Audit(AuditArgs),
    /// Merge the summaries of audits run apart (`audit --save`: one per
    /// host, or per batch job) into one report, equal to auditing all their
    /// captures in one run (docs/deployment.md). Exit codes as audit.
    Merge(MergeArgs),
    /// Prove a triggered job used the right NIC: capture on every NIC while
    /// COMMAND runs (plus --settle), then report like audit. Exit 0 pass,
    /// 1 violation, 2 error, 3 inconclusive (drops, an expected class not
    /// seen, or COMMAND failed).
    Verify(Box<VerifyArgs>),
    /// The daemon: capture every NIC continuously and raise an alert the
    /// moment a class leaks off its network (JSON lines, webhooks, syslog),
    /// with Prometheus metrics. SIGHUP reloads the policy and reopens the
    /// alert file; SIGTERM/SIGINT stop it.
    Watch(Box<WatchArgs>),
    /// List network interfaces with their addresses, state and the policy
    /// network each maps to.
    Ifaces(IfacesArgs),
    /// Check, derive and lint policies (`lanecheck policy check FILE`,
    /// `policy derive`, `policy lint`).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) on standard output.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (lanecheck.1 and one per subcommand) into DIR.
    Man {
        /// The directory to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Options of every live capture.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Capture on this NIC (repeatable), and on no other. Default: the
    /// policy's [interfaces] and every other interface that is up and not
    /// loopback (traffic on a NIC the policy does not name is judged by its
    /// addresses); watch also takes those down at start, captured once
    /// they come up.
    #[arg(long = "iface", short = 'i', value_name = "NAME")]
    pub ifaces: Vec<String>,
    /// Bytes kept per packet: headers plus the first payload bytes. Use
    /// 1518 or more when DCOM/RPC dynamic-port evidence matters (the ports
    /// are in replies that 256 bytes cut; docs/capture.md).
    #[arg(long, value_name = "BYTES", default_value_t = 256)]
    pub snaplen: u32,
    /// Kernel capture buffer per NIC, in bytes (suffixes k, M, G: powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "32M")]
    pub buffer_size: String,
    /// BPF filter applied on every NIC (tcpdump syntax).
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Put the NICs in promiscuous mode (to see a SPAN/TAP port's traffic).
    #[arg(long)]
    pub promisc: bool,
    /// The [hosts] entry this host is: the policy's HOST/KEY [interfaces]
    /// keys of HOST apply to its NICs. Default: the [hosts] entry named
    /// like the local host name (case ignored, short name or FQDN). It
    /// changes which network a NIC is judged as, never which NICs are
    /// captured.
    #[arg(long, value_name = "HOST")]
    pub node: Option<String>,
}

/// Classes a run must see (`audit`, `verify`).
#[derive(Args, Debug, Clone)]
pub struct ExpectArgs {
    /// A class that must be seen with at least --min-bytes (repeatable);
    /// otherwise the verdict is inconclusive (exit 3).
    #[arg(long, value_name = "CLASS")]
    pub expect: Vec<String>,
    /// Bytes an expected class must reach (suffixes k, M, G: powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "1M")]
    pub min_bytes: String,
}

/// `lanecheck verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub policy: PolicySource,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Capture for this long (instead of until COMMAND exits).
    #[arg(long, value_name = "DURATION", conflicts_with = "until_idle")]
    pub duration: Option<String>,
    /// Capture until every --expect class was seen and has been idle this long.
    /// Expected traffic not seen --settle plus this long after COMMAND exits
    /// ends it (inconclusive): raise --settle for a job that starts later.
    #[arg(long, value_name = "DURATION", requires = "expect")]
    pub until_idle: Option<String>,
    /// Keep capturing this long after COMMAND exits.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub settle: String,
    /// Upper bound on the whole capture; a COMMAND still running then is killed,
    /// with every process it started (so is it at Ctrl-C).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Save everything captured as one pcapng (one interface block per NIC).
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Most flows held in memory at once.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// The command that triggers the traffic (stdin inherited; its stdout and
    /// stderr go to lanecheck's stderr).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `lanecheck watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The policy file (TOML; see docs/policy.md). SIGHUP reloads it.
    #[arg(long, short, value_name = "FILE")]
    pub policy: PathBuf,
    #[command(flatten)]
    pub live: LiveArgs,
    /// Append alert events as JSON lines to PATH (`-` for standard output).
    #[arg(long, value_name = "PATH|-")]
    pub alerts: Option<String>,
    /// Serve Prometheus metrics on ADDR:PORT (/metrics, /healthz);
    /// `--metrics` alone serves on 127.0.0.1:9750 (loopback only).
    #[arg(long, value_name = "ADDR:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:9750")]
    pub metrics: Option<String>,
    /// POST every event as JSON to URL (repeatable; retried with backoff).
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Send events to the local syslog (RFC 5424 datagrams).
    #[arg(long)]
    pub syslog: bool,
    /// The syslog socket.
    #[arg(long, value_name = "PATH", default_value = "/dev/log")]
    pub syslog_socket: PathBuf,
    /// Remind about a continuing leak at most this often.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub realert: String,
    /// A leak silent this long has ended.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub quiet: String,
    /// Run as this user after opening the NICs (default when started as root: nobody).
    #[arg(long, value_name = "NAME", default_value = "nobody")]
    pub user: String,
    /// Most flows held in memory at once (least recently seen are evicted).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// New-leak alerts allowed per second before the excess is folded into one summary
    /// (on average: a burst of up to five seconds' worth passes at once).
    #[arg(long, value_name = "N", default_value_t = 20.0)]
    pub alert_rate: f64,
    /// How long a flow whose class its payload may still change (SMB
    /// between cluster nodes, RPC with a DPM server, flows an evidence rule
    /// could match) waits for that evidence before its provisional class is
    /// judged. Port-classified flows are judged at once.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub evidence_wait: String,
}

/// `lanecheck ifaces`.
#[derive(Args, Debug)]
pub struct IfacesArgs {
    /// Show the network each interface maps to in this policy, and warn
    /// when its addresses are outside that network.
    #[arg(long, short, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The [hosts] entry this host is: the policy's HOST/KEY [interfaces]
    /// keys of HOST apply (as in verify and watch). Default: the [hosts]
    /// entry named like the local host name.
    #[arg(long, value_name = "HOST", requires = "policy")]
    pub node: Option<String>,
}

/// Where `audit` and `verify` get their policy: a file, or the Windows
/// exports it is derived from.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct PolicySource {
    /// The policy file (TOML; see docs/policy.md).
    #[arg(long, short, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Derive the policy from the exports in DIR instead (as `lanecheck
    /// policy derive --derive-from DIR` would; see docs/derive.md).
    #[arg(long, value_name = "DIR")]
    pub derive_from: Option<PathBuf>,
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
    /// Write a commented policy from what Windows already knows: the
    /// cluster networks' roles and metrics, the live-migration settings,
    /// DPM's backup networks. Runs `policy lint` too (warnings on stderr).
    /// Exit 0 clean, 1 lint warnings or prefix gaps (the policy is still
    /// written), 2 bad input (nothing written).
    Derive(DeriveArgs),
    /// Say what is wrong with the layout the inputs describe, before any
    /// packet is captured: each warning with its id, rule and fix.
    /// Exit 0 clean, 1 warnings, 2 bad input.
    Lint(DeriveInputs),
}

/// `lanecheck policy derive`.
#[derive(Args, Debug)]
pub struct DeriveArgs {
    #[command(flatten)]
    pub inputs: DeriveInputs,
    /// Write the policy to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The inputs of `policy derive` and `policy lint` (docs/derive.md); each
/// is optional, any combination works.
#[derive(Args, Debug, Clone, Default)]
pub struct DeriveInputs {
    /// The cluster networks: `Get-ClusterNetwork | Select-Object
    /// Id,Name,Address,AddressMask,Role,Metric,AutoMetric,State |
    /// ConvertTo-Json`, or the `Get-ClusterNetwork | FT Name, Metric, Role`
    /// table as printed.
    #[arg(long, value_name = "FILE")]
    pub cluster_networks: Option<PathBuf>,
    /// The prefix of a network the table form gives no address for
    /// (repeatable); `primary=PREFIX` names DPM's primary network.
    #[arg(long = "address", value_name = "NAME=PREFIX")]
    pub addresses: Vec<String>,
    /// `Get-ClusterNetworkInterface | Select-Object
    /// Node,Network,Adapter,Address | ConvertTo-Json`: fills [hosts],
    /// roles.cluster_nodes and [interfaces].
    #[arg(long, value_name = "FILE")]
    pub cluster_interfaces: Option<PathBuf>,
    /// The cluster's live-migration settings (`Get-ClusterParameter
    /// MigrationExcludeNetworks,MigrationNetworkOrder` as JSON).
    #[arg(long, value_name = "FILE")]
    pub live_migration: Option<PathBuf>,
    /// How live migration moves memory (default compression; smb makes it
    /// SMB on 445, which lanecheck sees as smb-redirected).
    #[arg(long, value_enum, value_name = "TRANSPORT")]
    pub lm_transport: Option<LmTransport>,
    /// A DPM backup network as given to `Add-DPMBackupNetworkAddress
    /// -Address PREFIX -SequenceNumber SEQUENCE` (repeatable).
    #[arg(long = "dpm-backup-network", value_name = "PREFIX:SEQUENCE")]
    pub dpm_backup_networks: Vec<String>,
    /// The DPM server and its addresses, primary first.
    #[arg(long = "dpm-server", value_name = "NAME=ADDR[,ADDR…]")]
    pub dpm_servers: Vec<String>,
    /// A protected server and its addresses, primary first (repeatable).
    #[arg(long = "protected-server", value_name = "NAME=ADDR[,ADDR…]")]
    pub protected_servers: Vec<String>,
    /// A capture interface and an address on its NIC (or a network name):
    /// fills [interfaces] where no export does (repeatable).
    #[arg(long = "interface", value_name = "NAME=ADDR|NETWORK")]
    pub interfaces: Vec<String>,
    /// Whose rules choose the networks (default 2012+).
    #[arg(long, value_enum, value_name = "OS")]
    pub os: Option<Os>,
    /// Read the inputs from the exports in DIR (Get-ClusterNetwork.json or
    /// .txt, Get-ClusterNetworkInterface.json, live-migration.json,
    /// lanecheck-derive.toml); flags add to them.
    #[arg(long, value_name = "DIR")]
    pub derive_from: Option<PathBuf>,
    /// Silence a lint by its id (repeatable).
    #[arg(long = "allow", value_name = "ID")]
    pub allow: Vec<String>,
}

/// The Windows version whose cluster rules apply (protocol-facts §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Os {
    /// Windows Server 2008 R2: one network per class, by metric.
    #[value(name = "2008r2")]
    W2008R2,
    /// Windows Server 2012 and later: SMB Multichannel for CSV.
    #[value(name = "2012+")]
    W2012,
}

/// Live-migration performance option (protocol-facts §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LmTransport {
    /// TCP/IP on 6600.
    Tcp,
    /// Compressed, on TCP 6600 (the Windows default).
    Compression,
    /// SMB 3 on 445 (with Multichannel and Direct).
    Smb,
}

/// `lanecheck audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub policy: PolicySource,
    #[command(flatten)]
    pub input: CaptureArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Show a progress bar on stderr (bytes read, packets/s, time left) when
    /// the capture files total at least SIZE; only when stderr is a
    /// terminal, never for standard input (suffixes k, M, G: powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    pub progress_threshold: String,
    /// Also write a summary of this audit to FILE for `lanecheck merge`
    /// (versioned JSON: classes with their per-bin series, violations with
    /// evidence, captures, findings, flow digests; see docs/deployment.md).
    /// Each host audits its own captures; one merge reports them all.
    /// FILE is a path (not `-`: standard output carries the report).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// One capture file, or several that share flows (rotated captures),
    /// with 2 or more threads: analyse them on
    /// every thread, each a share of their flows (by address pair), and
    /// merge - the same result; when shares would differ from one analyzer
    /// (one learns an RPC endpoint or SMB session another uses, or the
    /// table would fill) they are read again on one. auto: when the
    /// captures' first 65,536 frames (the first capture's, or several small
    /// ones') hold 4,096 address pairs or more (analysis, not reading, is
    /// then the bottleneck) and, at that rate, they would not fill
    /// --max-flows.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ShardMode::Auto)]
    pub shard: ShardMode,
    /// The [hosts] entry CAPTURE was taken on (repeatable; CAPTURE as
    /// given): the policy's HOST/KEY [interfaces] keys of HOST apply to
    /// its interfaces, and no other host's. Default, when the policy has
    /// such keys: the host whose addresses are an endpoint of more than
    /// half of the capture's first 65,536 IP packets and of more than any
    /// other host; when none is, the keys are not applied to it and the
    /// report says so.
    #[arg(long = "node", value_name = "CAPTURE=HOST")]
    pub nodes: Vec<String>,
}

/// `lanecheck merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Summaries written by `audit --save`, in the order one audit would
    /// read their captures.
    #[arg(required = true, value_name = "SUMMARY")]
    pub summaries: Vec<PathBuf>,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Output format: text, json (docs/json.md) or html.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Add the per-bin throughput series to the JSON report (as `audit --series`).
    #[arg(long)]
    pub series: bool,
    /// Colour verdicts and statuses in the text report: auto, always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// How an audit-style report is written (`audit`, `verify`).
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Output format: text, json (docs/json.md) or html (one self-contained
    /// page: verdict banner, throughput charts, tables; no script, no
    /// network access; best written with --output).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Throughput bin length: 500ms, 1s, 2m… (at least 1ms); bins are aligned to the Unix epoch.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub bin: String,
    /// Also list every flow with its class, reason, networks and status.
    #[arg(long)]
    pub flows: bool,
    /// Add the per-bin throughput series to the JSON report: bytes and
    /// bit/s of every --bin of each class, and of each class per network,
    /// NIC and VLAN; each violation gets its flow's own series (at most 64
    /// bins). See docs/json.md. (The HTML report always draws them.)
    #[arg(long)]
    pub series: bool,
    /// Write every packet of every violating flow to FILE (pcapng, one
    /// interface block per capture NIC, a packet comment naming the
    /// violation on each flow's first packet). A flow's verdict is final
    /// only at its end, so the captures are read twice when there is a
    /// violation. Meanwhile audit keeps a journal of 4 bytes a packet per
    /// share of the flows, and verify a spool of what it captured (its
    /// --write file, or a temporary one) and such a journal: in FILE's
    /// directory, else the temporary directory. FILE is created even when
    /// nothing violates.
    #[arg(long, value_name = "FILE.pcapng")]
    pub violations_pcap: Option<PathBuf>,
    /// Colour verdicts and statuses in the text report: auto (when standard
    /// output is a terminal and NO_COLOR is unset or empty), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// When the text report is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When writing to a terminal, unless NO_COLOR is set (https://no-color.org).
    Auto,
    /// Always, even into a pipe or file (overrides NO_COLOR).
    Always,
    /// Never.
    Never,
}

/// Format of an audit or verify report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable report.
    Text,
    /// One JSON document (see docs/json.md).
    Json,
    /// One self-contained HTML page (charts as inline SVG, no script).
    Html,
}

/// Output format of a listing.
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
    /// Threads: 2 or more reads and frames each capture on a thread of its own,
    /// ahead of the analysis, and audits several captures at once when they share
    /// no flow nor anything learned (`audit` and `flows`; else one after
    /// another), or one capture of many
    /// flows in shares of them (`audit --shard`) - the same result, sooner;
    /// 1 reads and analyses on one. Default: the machine's cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// A flow idle this long (in packet time) is closed: 500ms, 60s, 2m, 1h;
    /// a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub idle_timeout: String,
    /// How long after a flow's first packet its payload evidence may still
    /// change its class (an SMB tree connect, an RPC bind); later evidence
    /// is listed but the class stays.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub evidence_window: String,
    /// Copies of one packet (pktmon logs one per networking component,
    /// etl2pcapng one per capture point, dumpcap one per selected NIC):
    /// `auto` collapses them in captures whose writer makes them, `on` in
    /// every capture, `off` never.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = Dedup::Auto)]
    pub dedup: Dedup,
}

/// `--shard`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardMode {
    /// Never: one analyzer per capture.
    Never,
    /// When the capture holds many conversations.
    Auto,
    /// Whenever it can (one regular file, 2 or more threads).
    Always,
}

/// `--dedup`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// Never collapse copies.
    Off,
    /// Collapse them where the capture's writer is known to make them.
    Auto,
    /// Collapse them in every capture.
    On,
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
