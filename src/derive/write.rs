//! The derived policy as commented TOML, in the layout of
//! `policies/*.toml`, every choice preceded by the reasons for it.

use std::fmt::Write as _;

use super::lint::Lint;
use super::plan::{ClassPlan, Fallback, Plan};
use crate::config::PREFIX_GAP;

/// Comments wrap here.
const WIDTH: usize = 78;

/// Renders `plan` with its lint findings in the header.
pub fn render(plan: &Plan, lints: &[Lint]) -> String {
    let mut out = String::new();
    header(&mut out, plan, lints);
    networks(&mut out, plan);
    if !plan.interfaces.is_empty() {
        out.push_str("\n[interfaces]\n");
        for (nic, net, why) in &plan.interfaces {
            comment(&mut out, why);
            let _ = writeln!(out, "{} = {}", key(nic), string(net));
        }
    }
    if !plan.hosts.is_empty() {
        out.push_str("\n[hosts]\n");
        for h in &plan.hosts {
            comment(&mut out, &h.why);
            let addrs: Vec<String> = h.addrs.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(out, "{} = {}", key(&h.name), array(&addrs));
        }
    }
    if !plan.roles.is_empty() {
        out.push_str("\n[roles]\n");
        for (role, names, why) in &plan.roles {
            comment(&mut out, why);
            let _ = writeln!(out, "{role} = {}", array(names));
        }
    }
    for c in &plan.classes {
        class(&mut out, c);
    }
    for d in &plan.dns {
        out.push_str("\n[[dns]]\n");
        for w in &d.why {
            comment(&mut out, w);
        }
        let _ = writeln!(out, "names = {}", array(&d.names));
        let _ = writeln!(out, "must_include = {}", array(&d.must_include));
    }
    out
}

fn header(out: &mut String, plan: &Plan, lints: &[Lint]) {
    comment(out, "Policy derived by `lanecheck policy derive` (docs/derive.md). Every choice says which input and which rule produced it: change the inputs and derive again rather than editing the choices. `lanecheck policy check` validates this file.");
    out.push_str("#\n# Inputs:\n");
    for i in &plan.inputs {
        comment(out, &format!("  - {i}"));
    }
    out.push_str("#\n");
    let gaps: Vec<&str> = plan
        .networks
        .iter()
        .filter(|n| n.gap)
        .map(|n| n.name.as_str())
        .collect();
    if !gaps.is_empty() {
        comment(out, &format!("Gaps: no input gave the prefix of {}: policy check fails until --address (or address in lanecheck-derive.toml) gives them (see [networks]).", super::plan::list(&gaps)));
    }
    match lints.len() {
        0 => out.push_str("# Lint: clean.\n"),
        n => {
            let _ = writeln!(
                out,
                "# Lint: {n} warning{} (lanecheck policy lint):",
                if n == 1 { "" } else { "s" }
            );
            for l in lints {
                comment(out, &format!("  - warning[{}]: {}", l.id, l.message));
            }
        }
    }
}

fn networks(out: &mut String, plan: &Plan) {
    if plan.networks.is_empty() {
        return;
    }
    out.push_str("\n[networks]\n");
    for n in &plan.networks {
        for w in &n.why {
            comment(out, w);
        }
        let prefixes: Vec<String> = if n.gap {
            vec![PREFIX_GAP.to_string()]
        } else {
            n.prefixes.iter().map(|p| p.to_string()).collect()
        };
        let _ = writeln!(out, "{} = {}", key(&n.name), array(&prefixes));
    }
}

fn class(out: &mut String, c: &ClassPlan) {
    let _ = writeln!(out, "\n[classes.{}]", c.class);
    for w in &c.why {
        comment(out, w);
    }
    let _ = writeln!(out, "networks = {}", array(&c.networks));
    if c.networks.len() > 1 {
        let v = match c.on_fallback {
            Fallback::Warn => "warn",
            Fallback::Allow => "allow",
        };
        let _ = writeln!(out, "on_fallback = \"{v}\"");
    }
}

/// `# text`, wrapped at `WIDTH`; continuation lines keep a list item's indent.
fn comment(out: &mut String, text: &str) {
    let indent = if text.starts_with("  - ") { "    " } else { "" };
    let mut line = String::from("#");
    let mut words = 0;
    for word in text.split(' ') {
        if words > 0 && !word.is_empty() && line.len() + 1 + word.len() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = format!("# {indent}{word}");
            continue;
        }
        line.push(' ');
        line.push_str(word);
        words += usize::from(!word.is_empty());
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// A key: bare when TOML allows it, else a basic string.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string.
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn array(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_wrapping() {
        assert_eq!(key("eth0"), "eth0");
        assert_eq!(key("Heartbeat Cluster"), "\"Heartbeat Cluster\"");
        assert_eq!(key("dpm.x.y.com"), "\"dpm.x.y.com\"");
        assert_eq!(string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
        let mut out = String::new();
        comment(&mut out, &"word ".repeat(30));
        assert!(
            out.lines().all(|l| l.len() <= WIDTH && l.starts_with("# ")),
            "{out}"
        );
        let mut out = String::new();
        comment(&mut out, &format!("  - {}", "word ".repeat(30)));
        assert!(
            out.lines().skip(1).all(|l| l.starts_with("#     word")),
            "{out}"
        );
    }
}
