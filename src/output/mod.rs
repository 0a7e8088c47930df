//! Rendering: the report model ([`model`]: plain data, built once a run
//! ends) and its renderers, text, JSON and HTML, each an implementation of
//! [`Render`] that reads the model and never the analyzer.

pub mod captures;
pub mod evidence;
pub mod headline;
pub mod html;
pub mod json;
pub mod model;
pub mod paint;
pub mod report_text;
pub mod text;

pub use captures::CaptureRow;
pub use model::{CommandReport, Document, FlowList, FlowRow, FlowTableRow, LiveInfo, NicReport};

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use capture::Timestamp;

use crate::flags::{ReportArgs, ReportFormat};

/// Where output goes: a file (`--output`) or standard output.
pub struct Out {
    inner: BufWriter<Box<dyn Write>>,
}

impl Out {
    /// Flushes everything written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a whole document to `--output` or stdout. A reader that closes
/// the pipe early (`| head`) ends output quietly: the run's exit code stays
/// its verdict's (DESIGN.md), so a proven leak is still exit 1.
///
/// A file is written whole or not at all: into a temporary file beside it,
/// renamed onto it once everything is written (a full disk used to leave
/// a cut report in place of the old one). A device or a FIFO is written
/// directly. Errors name the file.
pub fn write_all(path: Option<&Path>, write: impl FnOnce(&mut Out) -> Result<()>) -> Result<()> {
    let Some(p) = path.filter(|p| replaceable(p)) else {
        let mut out = open(path)?;
        let written = write(&mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
        return match written {
            Err(e) if crate::is_broken_pipe(&e) => Ok(()),
            other => other,
        };
    };
    let failed = || format!("cannot write the report to {}", p.display());
    // Onto what a symbolic link names, as writing through it did.
    let target = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let tmp = beside(&target).with_context(failed)?;
    let mut out = Out {
        inner: BufWriter::with_capacity(1 << 16, Box::new(tmp.as_file().try_clone()?)),
    };
    write(&mut out).with_context(failed)?;
    out.flush().with_context(failed)?;
    drop(out);
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(failed)?;
    Ok(())
}

/// Whether `p` is written by replacing it: a regular file, or none yet.
fn replaceable(p: &Path) -> bool {
    std::fs::metadata(p).map_or(true, |m| m.is_file())
}

/// A temporary file in `p`'s directory, made as `File::create` makes one
/// (mode 0666 less the umask).
fn beside(p: &Path) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(".lanecheck-report-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(crate::paths::dir_of(p))
}

/// Fails now, before a run that may take hours (or trigger a backup), if
/// the report could not be written to `path` at its end.
pub fn ready(path: Option<&Path>) -> Result<()> {
    let Some(p) = path else { return Ok(()) };
    let made = match replaceable(p) {
        true => beside(&std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())).map(drop),
        false => std::fs::OpenOptions::new().write(true).open(p).map(drop),
    };
    made.with_context(|| format!("cannot write the report to {}", p.display()))
}

/// A renderer of the audit/verify report.
pub trait Render {
    /// Writes the whole document.
    fn render(&self, doc: &Document, out: &mut dyn Write) -> Result<()>;
}

/// The renderer `--format` (and `--color`, `--series`) ask for.
pub fn renderer(args: &ReportArgs) -> Box<dyn Render> {
    match args.format {
        ReportFormat::Text => Box::new(report_text::Text {
            paint: paint::Paint::new(args.color, args.output.is_none()),
        }),
        ReportFormat::Json => Box::new(json::Json {
            series: args.series,
        }),
        ReportFormat::Html => Box::new(html::Html),
    }
}

/// Writes an audit-style report as `--format` and `--output` ask.
pub fn write_report(args: &ReportArgs, doc: &Document) -> Result<()> {
    let r = renderer(args);
    write_all(args.output.as_deref(), |out| r.render(doc, out))
}

/// Opens the output sink.
pub fn open(path: Option<&Path>) -> Result<Out> {
    let w: Box<dyn Write> = match path {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(io::stdout()),
    };
    Ok(Out {
        inner: BufWriter::with_capacity(1 << 16, w),
    })
}

/// A tunnel chain (innermost first) as reports show it: `vxlan 5001
/// 10.99.0.1→10.99.0.2`, and each tunnel that carried it after ` in `.
pub fn tunnel_text(chain: &[analyzer::flow::Tunnel]) -> Option<String> {
    let parts: Vec<String> = chain
        .iter()
        .map(|t| {
            let mut s = t.kind.name().to_string();
            if let Some(id) = t.id {
                s.push_str(&format!(" {id}"));
            }
            if let Some((a, b)) = t.outer {
                s.push_str(&format!(" {a}→{b}"));
            }
            s
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" in "))
}

/// Bits per second in SI units: `812 Mbit/s`.
pub fn human_bps(bps: u64) -> String {
    const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let mut v = bps as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Protocol name as tshark and Zeek spell it.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => format!("ip{n}"),
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.to_string()
}
