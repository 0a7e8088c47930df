//! The report's tables: violations (with evidence and each flow's own
//! chart), DNS violations, warnings, captures and their integrity, the
//! live run, learned endpoints.

use std::fmt::Write as _;

use analyzer::report::Violation;
use serde_json::Value;

use super::{chart, esc, grouped};
use crate::output::text::human_bytes;
use crate::output::{evidence, proto_name, rfc3339, Document};

/// Most violations the page lists (JSON carries every one).
pub const VIOLATIONS_SHOWN: usize = 1000;

/// The violations, largest first: one `tbody` each (the flow's row, then
/// its reasons and evidence).
pub fn violations(o: &mut String, doc: &Document) {
    o.push_str("<section id=\"violations\"><h2>Violations <small>largest first, one per flow</small></h2>\n");
    if doc.violations.is_empty() {
        o.push_str("<p class=\"empty\">none</p></section>\n");
        return;
    }
    o.push_str(
        "<table class=\"violations\"><thead><tr><th>#</th><th>class</th><th>flow (initiator first)</th>\
         <th>where</th><th>bytes</th><th>packets</th><th>first seen</th><th>last seen</th>\
         <th>over time</th></tr></thead>\n",
    );
    for (i, x) in doc.violations.iter().take(VIOLATIONS_SHOWN).enumerate() {
        violation(o, doc, i + 1, x);
    }
    o.push_str("</table>\n");
    if doc.violations.len() > VIOLATIONS_SHOWN {
        let _ = writeln!(
            o,
            "<p class=\"more\">… {} more violations: every one is in <code>--format json</code>.</p>",
            grouped((doc.violations.len() - VIOLATIONS_SHOWN) as u64)
        );
    }
    o.push_str("</section>\n");
}

/// A `<time>` with the RFC 3339 time as its `datetime`, shown as the date
/// over the time of day.
fn time(t: capture::Timestamp, class: &str) -> String {
    let text = rfc3339(t);
    let shown = match text.split_once('T') {
        Some((date, clock)) => format!("{date}<br>{clock}"),
        None => text.clone(),
    };
    format!("<time class=\"{class}\" datetime=\"{text}\">{shown}</time>")
}

/// `dpm (10.10.12.89):50002`.
fn endpoint(doc: &Document, x: &Violation, initiator: bool) -> String {
    let (addr, port) = if initiator {
        (x.src, x.sport)
    } else {
        (x.dst, x.dport)
    };
    if matches!(x.proto, 6 | 17 | 132) {
        format!("{}:{port}", doc.host(addr))
    } else {
        doc.host(addr)
    }
}

fn violation(o: &mut String, doc: &Document, n: usize, x: &Violation) {
    let mut place_cell = format!("network {}", esc(&x.network));
    if let Some(i) = &x.interface {
        let _ = write!(place_cell, "<br>NIC {}", esc(i));
    }
    if let Some(v) = x.vlan {
        let _ = write!(place_cell, "<br>VLAN {v}");
    }
    let _ = write!(
        o,
        "<tbody class=\"violation\" data-community-id=\"{cid}\"><tr>\
         <td class=\"num\">{n}</td><td>{class}</td><td>{proto} {src} → {dst}</td><td>{place_cell}</td>\
         <td class=\"num bytes\"><data value=\"{bytes}\">{bytes_g}</data><br><small>{human}</small></td>\
         <td class=\"num packets\"><data value=\"{packets}\">{packets_g}</data></td>\
         <td>{first}</td><td>{last}</td><td class=\"spark\">",
        cid = esc(&x.community_id),
        class = esc(&x.class),
        proto = proto_name(x.proto),
        src = esc(&endpoint(doc, x, true)),
        dst = esc(&endpoint(doc, x, false)),
        bytes = x.bytes,
        bytes_g = grouped(x.bytes),
        human = human_bytes(x.bytes),
        packets = x.packets,
        packets_g = grouped(x.packets),
        first = time(x.first_seen, "first"),
        last = time(x.last_seen, "last"),
    );
    chart::sparkline(o, &x.series);
    o.push_str("</td></tr>\n<tr class=\"detail\"><td></td><td colspan=\"8\"><ul class=\"why\">");
    for why in &x.reasons {
        let _ = write!(o, "<li>{}</li>", esc(why));
    }
    o.push_str("</ul>");
    if let Some(dns) = &x.explanation {
        let _ = write!(o, "<p><b>DNS:</b> {}</p>", esc(dns));
    }
    if let Some(t) = crate::output::tunnel_text(&x.tunnel) {
        let _ = write!(o, "<p><b>tunnel:</b> {}</p>", esc(&t));
    }
    let _ = write!(
        o,
        "<p><b>class:</b> {} · <b>Community ID</b> <code>{}</code></p>",
        esc(&x.class_reason),
        esc(&x.community_id)
    );
    evidence_list(o, x);
    o.push_str("</td></tr></tbody>\n");
}

/// The flow's evidence, as the JSON gives it: kind, time, fields (always
/// shown, so that it prints).
fn evidence_list(o: &mut String, x: &Violation) {
    if x.evidence.is_empty() {
        return;
    }
    o.push_str("<p><b>evidence:</b></p><ol class=\"evidence\">");
    for e in &x.evidence {
        let v = evidence::evidence(e);
        let kind = v["kind"].as_str().unwrap_or("?");
        let time = v["time"].as_str().unwrap_or("");
        let _ = write!(o, "<li><b>{}</b> <time>{}</time>", esc(kind), esc(time));
        if let Value::Object(fields) = &v {
            for (k, f) in fields.iter().filter(|(k, _)| *k != "kind" && *k != "time") {
                let text = match f {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = write!(o, " · {}: <code>{}</code>", esc(k), esc(&text));
            }
        }
        o.push_str("</li>");
    }
    o.push_str("</ol>");
}

/// DNS answers that broke a `[[dns]]` rule.
pub fn dns(o: &mut String, doc: &Document) {
    o.push_str("<section id=\"dns\"><h2>DNS violations</h2>\n");
    if doc.dns_violations.is_empty() {
        o.push_str("<p class=\"empty\">none</p></section>\n");
        return;
    }
    o.push_str(
        "<table class=\"dns\"><thead><tr><th>name</th><th>type</th><th>answer</th><th>server</th>\
         <th>client</th><th>time</th><th>capture</th><th>rule</th><th>why</th></tr></thead><tbody>\n",
    );
    for row in &doc.dns_violations {
        let d = &row.violation;
        let answers: Vec<String> = d
            .answers
            .iter()
            .map(|(ip, net, ttl)| format!("{ip} ({net}, TTL {ttl} s)"))
            .collect();
        let answer = if answers.is_empty() {
            format!(
                "no address ({})",
                analyzer::evidence::dns::rcode_name(d.rcode)
            )
        } else {
            answers.join(", ")
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&d.name),
            analyzer::evidence::dns::type_name(d.qtype),
            esc(&answer),
            esc(&doc.host(d.server)),
            esc(&doc.host(d.client)),
            time(d.time, "at"),
            esc(row.capture.as_deref().unwrap_or("")),
            d.rule,
            esc(&d.reason)
        );
    }
    o.push_str("</tbody></table>\n");
    if doc.dns_violations_dropped > 0 {
        let _ = writeln!(
            o,
            "<p class=\"more\">… {} more, not kept.</p>",
            grouped(doc.dns_violations_dropped)
        );
    }
    o.push_str("</section>\n");
}

/// Fallbacks, DNS rule warnings, truncation and the like.
pub fn warnings(o: &mut String, doc: &Document) {
    o.push_str("<section id=\"warnings\"><h2>Warnings</h2>\n");
    if doc.warnings.is_empty() {
        o.push_str("<p class=\"empty\">none</p></section>\n");
        return;
    }
    o.push_str("<ul class=\"warnings\">");
    for w in &doc.warnings {
        let _ = write!(o, "<li>{}</li>", esc(w));
    }
    o.push_str("</ul></section>\n");
}

/// Every capture with what a reader must know about its integrity.
pub fn captures(o: &mut String, doc: &Document) {
    o.push_str(
        "<section id=\"captures\"><h2>Captures</h2>\n<table class=\"captures\"><thead><tr>\
         <th>source</th><th>packets</th><th>bytes</th><th>NICs</th><th>non-IP</th>\
         <th>integrity</th></tr></thead><tbody>\n",
    );
    for c in &doc.captures {
        let problems = c.integrity();
        let _ = write!(
            o,
            "<tr class=\"{}\"><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td><td class=\"num\">{}</td><td>",
            if problems.is_empty() { "ok" } else { "warn" },
            esc(&c.source),
            grouped(c.packets),
            grouped(c.bytes),
            esc(&c.interfaces.join(", ")),
            grouped(c.non_ip),
        );
        if problems.is_empty() {
            o.push_str("complete");
        } else {
            o.push_str("<ul>");
            for p in &problems {
                let _ = write!(o, "<li>{}</li>", esc(p));
            }
            o.push_str("</ul>");
        }
        for note in c.notes().into_iter().chain(c.tunnel_notes()) {
            let _ = write!(o, "<br><small>{}</small>", esc(&note));
        }
        o.push_str("</td></tr>\n");
    }
    o.push_str("</tbody></table>\n");
    captures_notes(o, doc);
    o.push_str("</section>\n");
}

/// Dissectors that gave up and flows pushed out of the table.
fn captures_notes(o: &mut String, doc: &Document) {
    let mut notes: Vec<String> = doc
        .gave_up
        .iter()
        .map(|(proto, why, n)| format!("evidence: {n} {proto} flow(s) not read further: {why}"))
        .collect();
    let t = &doc.flow_table;
    if t.evicted > 0 {
        notes.push(format!(
            "{} flows evicted at the --max-flows cap (still counted)",
            t.evicted
        ));
    }
    if !notes.is_empty() {
        o.push_str("<ul class=\"notes\">");
        for n in &notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>");
    }
}

/// The live run (verify): NICs and their drops, the command, how it ended.
pub fn live(o: &mut String, doc: &Document) {
    let Some(l) = &doc.live else { return };
    let _ = write!(
        o,
        "<section id=\"live\"><h2>Live capture</h2>\n<p>{:.1} s, ended: {}</p>\n",
        l.duration.as_secs_f64(),
        esc(&l.ended_by)
    );
    o.push_str(
        "<table class=\"nics\"><thead><tr><th>NIC</th><th>packets</th><th>bytes</th>\
         <th>kernel drops</th><th>interface drops</th><th>queue drops</th><th>state</th></tr></thead><tbody>\n",
    );
    for n in &l.nics {
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if n.problem().is_some() { "warn" } else { "ok" },
            esc(&n.name),
            grouped(n.packets),
            grouped(n.bytes),
            n.kernel_drops,
            n.iface_drops,
            n.queue_drops,
            if n.failed { "FAILED" } else { "captured" }
        );
    }
    o.push_str("</tbody></table>\n");
    if let Some(c) = &l.command {
        let _ = writeln!(
            o,
            "<p>command <code>{}</code> {} after {:.1} s</p>",
            esc(&c.argv.join(" ")),
            esc(&c.describe()),
            c.duration.as_secs_f64()
        );
    }
    o.push_str("</section>\n");
}

/// RPC endpoints the traffic announced with a port.
pub fn endpoints(o: &mut String, doc: &Document) {
    let with_port: Vec<_> = doc
        .learned_endpoints
        .iter()
        .filter_map(|e| Some((e, e.port?)))
        .collect();
    if with_port.is_empty() {
        return;
    }
    o.push_str(
        "<section id=\"endpoints\"><h2>RPC endpoints learned from replies</h2>\n<table><thead><tr>\
         <th>server</th><th>port</th><th>via</th><th>what</th><th>announced by</th><th>at</th></tr></thead><tbody>\n",
    );
    for (e, port) in with_port {
        let what = match (&e.binding, &e.interface) {
            (Some(b), _) => b.clone(),
            (None, Some(u)) => format!("interface {u}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}/{port}</td><td>{}</td><td>{}</td><td>{}</td><td><time>{}</time></td></tr>",
            e.server,
            proto_name(e.proto),
            e.via.as_str(),
            esc(&what),
            e.announced_by,
            rfc3339(e.learned_at)
        );
    }
    o.push_str("</tbody></table></section>\n");
}
