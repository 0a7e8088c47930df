//! lanecheck: proves from the packets that each class of datacenter traffic
//! travels on the network it was meant to.
//!
//! This binary is the only place with anyhow, clap, serde_json and the
//! logger. It parses flags, runs a subcommand and maps its outcome to the
//! exit codes of `docs/ARCHITECTURE.md`: 0 pass, 1 fail, 2 error,
//! 3 inconclusive.

mod audit;
mod config;
mod derive;
mod duration;
mod expect;
mod flags;
mod flows;
mod ifaces;
mod logging;
mod manual;
mod names;
mod node;
mod output;
mod parallel;
mod paths;
mod pipeline;
mod policy_cmd;
mod progress;
mod seams;
mod shard;
mod summary;
mod verify;
mod violations_pcap;
mod watch;

use std::io;
use std::process::ExitCode;

use clap::Parser;

/// How a run ended; mapped to the process exit code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Exit 0: no violation.
    Pass,
    /// Exit 1: at least one violation.
    Fail,
    /// Exit 2: bad flags, unreadable policy, or an input that is not a capture.
    Error,
    /// Exit 3: not enough evidence.
    Inconclusive,
}

impl Outcome {
    fn code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Error => 2,
            Outcome::Inconclusive => 3,
        }
    }
}

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    logging::init(cli.log_level.as_deref());
    let result = match cli.command {
        flags::Command::Flows(args) => flows::run(&args),
        flags::Command::Audit(args) => audit::run(&args),
        flags::Command::Merge(args) => summary::merge(&args),
        flags::Command::Verify(args) => verify::run(&args),
        flags::Command::Ifaces(args) => ifaces::run(&args),
        flags::Command::Watch(args) => watch::run(&args),
        flags::Command::Policy(flags::PolicyCommand::Check { file }) => policy_cmd::check(&file),
        flags::Command::Policy(flags::PolicyCommand::Derive(args)) => derive::run_derive(&args),
        flags::Command::Policy(flags::PolicyCommand::Lint(inputs)) => derive::run_lint(&inputs),
        flags::Command::Completions { shell } => manual::completions(shell),
        flags::Command::Man { out } => manual::man(&out),
    };
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(0),
        Err(e) => {
            eprintln!("lanecheck: {e:#}");
            ExitCode::from(Outcome::Error.code())
        }
    }
}

/// A reader that closed our output pipe (`lanecheck … | head`) is not an
/// error: ripgrep does the same (crates/core/main.rs).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let pipe = Some(io::ErrorKind::BrokenPipe);
    e.chain().any(|c| {
        // serde_json wraps the writer's error without naming it as source.
        let json = c.downcast_ref::<serde_json::Error>();
        c.downcast_ref::<io::Error>().map(io::Error::kind) == pipe
            || json.is_some_and(|j| j.io_error_kind() == pipe)
    })
}
