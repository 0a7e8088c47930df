//! The HTML report (`--format html`): one self-contained page that needs
//! no script and no network. The Content-Security-Policy meta tag forbids
//! every fetch (`default-src 'none'`) and allows only the inline style, so
//! a browser loads nothing but the page itself. Light and dark schemes
//! follow `prefers-color-scheme`; print gets its own rules. Charts are
//! inline SVG drawn by [`chart`]. The page reads the [`Document`] only.
//!
//! Stable hooks for tests and scripts: `#verdict-word`, `#verdict-summary`,
//! `tbody.violation` (one per violation, in the JSON's order) with
//! `data-community-id`, its bytes in `td.bytes data[value]`.

pub mod chart;
mod tables;

use std::fmt::{self, Write as _};
use std::io::Write;

use analyzer::report::{ClassSummary, Share};
use anyhow::Result;

use super::text::{human_bytes, status_word};
use super::{human_bps, Document, Render};
use chart::{ClassChart, Layer};

/// The CSP of every page: nothing may be fetched; inline style only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = include_str!("style.css");

/// The HTML renderer.
pub struct Html;

impl Render for Html {
    fn render(&self, doc: &Document, out: &mut dyn Write) -> Result<()> {
        out.write_all(page(doc).as_bytes())?;
        Ok(())
    }
}

/// Text escaped for HTML content and attribute values.
pub struct Esc<'a>(&'a str);

/// Escapes `s` for HTML (content or a quoted attribute).
pub fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// An exact count with thin spaces between thousands: `93 080`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// The whole page.
pub fn page(doc: &Document) -> String {
    let h = doc.headline();
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>lanecheck: {} — {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        h.word,
        esc(&h.summary)
    );
    let _ = writeln!(
        o,
        "<header class=\"banner {}\" role=\"status\"><span id=\"verdict-word\">{}</span> \
         <span id=\"verdict-summary\">{}</span></header>",
        doc.verdict_name(),
        h.word,
        esc(&h.summary)
    );
    overview(&mut o, doc);
    classes(&mut o, doc);
    tables::violations(&mut o, doc);
    tables::dns(&mut o, doc);
    tables::warnings(&mut o, doc);
    tables::captures(&mut o, doc);
    tables::live(&mut o, doc);
    tables::endpoints(&mut o, doc);
    let _ = write!(
        o,
        "<footer>lanecheck {} · a self-contained page: no script, nothing fetched \
         (Content-Security-Policy {CSP}) · times in UTC</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    o
}

/// What was read, over which time, and links to the sections.
fn overview(o: &mut String, doc: &Document) {
    let packets: u64 = doc.captures.iter().map(|c| c.packets).sum();
    let bytes: u64 = doc.captures.iter().map(|c| c.bytes).sum();
    let bin = doc
        .classes
        .first()
        .map(|c| chart::duration(c.series.bin_ns))
        .unwrap_or_default();
    let _ = write!(
        o,
        "<p class=\"meta\">{} capture{} · {} packets · {} · {} class{} · {} violation{}",
        doc.captures.len(),
        if doc.captures.len() == 1 { "" } else { "s" },
        grouped(packets),
        human_bytes(bytes),
        doc.classes.len(),
        if doc.classes.len() == 1 { "" } else { "es" },
        doc.violation_count(),
        if doc.violation_count() == 1 { "" } else { "s" },
    );
    if !bin.is_empty() {
        let _ = write!(o, " · throughput in bins of {bin}");
    }
    o.push_str("</p>\n<nav><a href=\"#classes\">classes</a> <a href=\"#violations\">violations</a> \
        <a href=\"#dns\">DNS</a> <a href=\"#warnings\">warnings</a> <a href=\"#captures\">captures</a></nav>\n");
}

/// Every class: its chart, legend and table of places.
fn classes(o: &mut String, doc: &Document) {
    o.push_str("<section id=\"classes\"><h2>Classes</h2>\n");
    if doc.classes.is_empty() {
        o.push_str("<p class=\"empty\">no classified traffic</p>\n");
    }
    for (i, c) in doc.classes.iter().enumerate() {
        class(o, c, i);
    }
    o.push_str("</section>\n");
}

fn class(o: &mut String, c: &ClassSummary, i: usize) {
    let _ = write!(
        o,
        "<article class=\"class\" id=\"class-{i}\"><h3>{} <small>{} flow{} · {} packets · {}</small></h3>\n<figure>",
        esc(&c.class),
        grouped(c.flows),
        if c.flows == 1 { "" } else { "s" },
        grouped(c.packets),
        human_bytes(c.bytes),
    );
    let layers: Vec<Layer<'_>> = c
        .networks
        .iter()
        .map(|s| Layer {
            name: &s.name,
            status: s.status,
            bins: &s.series,
        })
        .collect();
    let classes = chart::layer_classes(&layers);
    let id = format!("chart-{i}");
    let chart = ClassChart {
        id: &id,
        class: &c.class,
        layers,
        total: &c.series,
        throughput: &c.throughput,
    };
    chart::class_chart(o, &chart);
    o.push_str("<figcaption><ul class=\"legend\">");
    for (s, cls) in c.networks.iter().zip(&classes) {
        let _ = write!(
            o,
            "<li><svg class=\"swatch\" viewBox=\"0 0 10 10\" aria-hidden=\"true\"><rect class=\"{cls}\" width=\"10\" height=\"10\"/></svg>{} <span class=\"status {}\">{}</span></li>",
            esc(&s.name),
            s.status.as_str(),
            status_word(s.status)
        );
    }
    let _ = writeln!(
        o,
        "<li><svg class=\"swatch\" viewBox=\"0 0 10 10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"10\" y2=\"5\"/></svg>class total</li>\
         </ul>Bit/s per bin, stacked by network (a flow between two networks counts in each, \
         so the stack may stand above the class total); dashed: the class's percentiles over {} bins{}.</figcaption></figure>",
        grouped(c.throughput.bins),
        columns_note(&c.series)
    );
    shares(o, c);
    o.push_str("</article>\n");
}

/// Says when columns average several bins.
fn columns_note(b: &analyzer::report::Bins) -> String {
    match chart::Axis::over([b].into_iter()) {
        Some(a) if a.per > 1 => format!("; each column averages {} bins", a.per),
        _ => String::new(),
    }
}

/// The table of a class's networks, NICs and VLANs.
fn shares(o: &mut String, c: &ClassSummary) {
    o.push_str(
        "<table class=\"shares\"><thead><tr><th>place</th><th>name</th><th>bytes</th>\
         <th>packets</th><th>status</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th>\
         <th>max</th></tr></thead><tbody>\n",
    );
    let all = [
        ("network", &c.networks),
        ("NIC", &c.interfaces),
        ("VLAN", &c.vlans),
    ];
    for (kind, list) in all {
        for s in list.iter() {
            share_row(o, kind, s);
        }
    }
    let t = &c.throughput;
    let _ = write!(
        o,
        "<tr class=\"total\"><td>class</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td></td>{}</tr>\n</tbody></table>\n",
        esc(&c.class),
        grouped(c.bytes),
        grouped(c.packets),
        percentile_cells(t)
    );
}

fn share_row(o: &mut String, kind: &str, s: &Share) {
    let _ = writeln!(
        o,
        "<tr><td>{kind}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td><span class=\"status {}\">{}</span></td>{}</tr>",
        esc(&s.name),
        grouped(s.bytes),
        grouped(s.packets),
        s.status.as_str(),
        status_word(s.status),
        percentile_cells(&s.throughput)
    );
}

fn percentile_cells(t: &analyzer::stats::Throughput) -> String {
    [t.p50, t.p90, t.p95, t.p99, t.max]
        .iter()
        .map(|v| format!("<td class=\"num\">{}</td>", human_bps(*v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_groups() {
        assert_eq!(
            esc("<a href=\"x\">Tom & 'Jerry'</a>").to_string(),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(grouped(93080), "93\u{202f}080");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1\u{202f}234\u{202f}567");
    }
}
