//! The `Get-ClusterNetwork | FT Name, Metric, Role` table, as PowerShell
//! prints it (columns aligned with spaces under a row of dashes) or as seed
//! 001 quotes it (`> |Name|Metric|Role|` with `|` borders).
//!
//! No crate parses `Format-Table` output: it is made for people, its column
//! widths follow the console, and PowerShell documents no grammar for it.
//! So this is by hand, and strict where a guess would be wrong: every
//! column but `Name` holds one word (numbers, `ClusterAndClient`, `Up`), so
//! a row's other cells are its first and last words and the name is what
//! lies between, spaces included. A name that `Format-Table` cut short
//! (`…` or `...` at the end) is an error: it would match nothing.

use super::inputs::{self, ClusterNet, Export, Role, METRIC_MAX};
use super::source::{InputError, Source};

/// A column the table may have (`FT` can print any property).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Column {
    Name,
    Metric,
    Role,
    Id,
    Address,
    AddressMask,
    AutoMetric,
    State,
    Other,
}

impl Column {
    fn of(header: &str) -> Self {
        match header.to_ascii_lowercase().as_str() {
            "name" => Column::Name,
            "metric" => Column::Metric,
            "role" => Column::Role,
            "id" => Column::Id,
            "address" => Column::Address,
            "addressmask" => Column::AddressMask,
            "autometric" => Column::AutoMetric,
            "state" => Column::State,
            _ => Column::Other,
        }
    }
}

/// A cell: its byte offset in the file's line, and its text.
type Cell<'a> = (usize, &'a str);

/// The table's header.
struct Header {
    columns: Vec<Column>,
    names: Vec<String>,
    pipes: bool,
}

/// Parses the first table in `src`.
pub fn networks(src: &Source) -> Result<Vec<ClusterNet>, InputError> {
    let lines: Vec<&str> = src.text.lines().collect();
    let (at, header) = find_header(src, &lines)?;
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate().skip(at + 1) {
        let t = unquote(raw);
        if t.is_empty() || t.starts_with("```") {
            if out.is_empty() {
                continue;
            }
            break;
        }
        let cells = split(raw, t, header.pipes);
        if cells.iter().all(|(_, c)| is_rule(c)) {
            continue;
        }
        out.push(row(src, i + 1, raw, &header, &cells)?);
    }
    if out.is_empty() {
        return Err(InputError::at(
            &src.path,
            at + 1,
            0,
            "the table has no rows",
        ));
    }
    Ok(out)
}

/// The first line with a `Name` cell, with Metric and Role beside it.
fn find_header(src: &Source, lines: &[&str]) -> Result<(usize, Header), InputError> {
    for (i, raw) in lines.iter().enumerate() {
        let t = unquote(raw);
        let pipes = t.contains('|');
        let cells = split(raw, t, pipes);
        if !cells.iter().any(|(_, c)| c.eq_ignore_ascii_case("name")) {
            continue;
        }
        let names: Vec<String> = cells.iter().map(|(_, c)| c.to_string()).collect();
        let columns: Vec<Column> = names.iter().map(|n| Column::of(n)).collect();
        for need in [Column::Metric, Column::Role] {
            if !columns.contains(&need) {
                return Err(InputError::at(
                    &src.path,
                    i + 1,
                    1,
                    format!(
                        "the table has no {need:?} column (columns: {}); print it with Get-ClusterNetwork | FT Name, Metric, Role",
                        names.join(", ")
                    ),
                ));
            }
        }
        return Ok((
            i,
            Header {
                columns,
                names,
                pipes,
            },
        ));
    }
    Err(InputError::file(
        &src.path,
        "neither JSON nor a Get-ClusterNetwork table (no line with a Name, Metric and Role header)",
    ))
}

/// A line without the quote marks (`> `) of a pasted Markdown quote.
fn unquote(line: &str) -> &str {
    let mut t = line.trim();
    while let Some(rest) = t.strip_prefix('>') {
        t = rest.trim_start();
    }
    t
}

/// A separator row: dashes, with Markdown's alignment colons.
fn is_rule(cell: &str) -> bool {
    !cell.is_empty() && cell.contains('-') && cell.chars().all(|c| c == '-' || c == ':')
}

/// The cells of `t` (a slice of `raw`), each with its offset in `raw`.
fn split<'a>(raw: &str, t: &'a str, pipes: bool) -> Vec<Cell<'a>> {
    let base = t.as_ptr() as usize - raw.as_ptr() as usize;
    let at = |s: &str| base + (s.as_ptr() as usize - t.as_ptr() as usize);
    if pipes {
        let inner = t.strip_prefix('|').unwrap_or(t);
        let inner = inner.strip_suffix('|').unwrap_or(inner);
        inner
            .split('|')
            .map(|c| {
                let c = c.trim();
                (at(c), c)
            })
            .collect()
    } else {
        t.split_whitespace().map(|w| (at(w), w)).collect()
    }
}

/// 1-based column of a byte offset in a line.
fn column(raw: &str, offset: usize) -> usize {
    raw[..offset.min(raw.len())].chars().count() + 1
}

/// The row's cells in header order; for an aligned table the name takes
/// every word between the other columns' words.
fn cells<'a>(raw: &'a str, header: &Header, words: &[Cell<'a>]) -> Option<Vec<Cell<'a>>> {
    let k = header.columns.len();
    if header.pipes {
        return (words.len() == k).then(|| words.to_vec());
    }
    let n = header.columns.iter().position(|c| *c == Column::Name)?;
    if words.len() < k {
        return None;
    }
    let after = k - 1 - n;
    let last = words.len() - after - 1;
    let (start, end) = (words[n].0, words[last].0 + words[last].1.len());
    let mut out = words[..n].to_vec();
    out.push((start, &raw[start..end]));
    out.extend_from_slice(&words[words.len() - after..]);
    Some(out)
}

/// One data row.
fn row(
    src: &Source,
    line: usize,
    raw: &str,
    header: &Header,
    words: &[Cell<'_>],
) -> Result<ClusterNet, InputError> {
    let err = |offset: usize, m: String| InputError::at(&src.path, line, column(raw, offset), m);
    let cells = cells(raw, header, words).ok_or_else(|| {
        err(
            words.first().map_or(0, |w| w.0),
            format!(
                "the row has {} cells, the header has {} ({})",
                words.len(),
                header.columns.len(),
                header.names.join(", ")
            ),
        )
    })?;
    let mut net = ClusterNet {
        id: None,
        name: String::new(),
        prefixes: Vec::new(),
        export: Export::Table,
        role: Role::NONE,
        metric: 0,
        auto_metric: None,
        state: None,
        origin: format!("{}:{line}", src.path),
    };
    let (mut address, mut mask) = ("", "");
    for (col, (offset, text)) in header.columns.iter().zip(cells) {
        let value = (!text.is_empty()).then_some(text);
        match col {
            Column::Name => net.name = name(text).map_err(|m| err(offset, m))?,
            Column::Metric => net.metric = metric(text).map_err(|m| err(offset, m))?,
            Column::Role => net.role = Role::parse(text).map_err(|m| err(offset, m))?,
            Column::Id => net.id = value.map(str::to_string),
            Column::Address => address = text,
            Column::AddressMask => mask = text,
            Column::AutoMetric => net.auto_metric = value.map(|v| v.eq_ignore_ascii_case("true")),
            Column::State => net.state = value.map(str::to_string),
            Column::Other => {}
        }
    }
    net.prefixes = inputs::prefix_from(address, mask)
        .map_err(|m| err(words[0].0, format!("network {:?}: {m}", net.name)))?
        .into_iter()
        .collect();
    Ok(net)
}

fn name(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the Name cell is empty".into());
    }
    if text.ends_with("...") || text.ends_with('…') {
        return Err(format!(
            "name {text:?} was cut short by Format-Table: widen the console (FT -AutoSize) or export JSON"
        ));
    }
    Ok(text.to_string())
}

fn metric(text: &str) -> Result<u32, String> {
    let n: u64 = text
        .parse()
        .map_err(|_| format!("Metric {text:?} is not a number"))?;
    u32::try_from(n)
        .ok()
        .filter(|_| (1..=METRIC_MAX).contains(&n))
        .ok_or_else(|| format!("Metric {n} is out of range (1-{METRIC_MAX})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, u32, u8)>, String> {
        let src = Source {
            path: "t.txt".into(),
            text: text.into(),
        };
        networks(&src)
            .map(|v| {
                v.into_iter()
                    .map(|n| (n.name, n.metric, n.role.number()))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn aligned_as_powershell_prints_it() {
        let text = "PS C:\\> Get-ClusterNetwork | FT Name, Metric, Role\r\n\r\nName                  Metric Role\r\n----                  ------ ----\r\niSCSI Storage Network  10100    0\r\nHeartbeat  Cluster      1000    1\r\n\r\nPS C:\\>\r\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                ("iSCSI Storage Network".into(), 10100, 0),
                ("Heartbeat  Cluster".into(), 1000, 1)
            ]
        );
        // Windows Server 2016's default columns, Role as text.
        let text = "Name              State Metric Role\n----              ----- ------ ----\nCluster Network 1 Up     69600 ClusterAndClient\n";
        assert_eq!(
            parse(text).unwrap(),
            [("Cluster Network 1".into(), 69600, 3)]
        );
    }

    #[test]
    fn quoted_markdown() {
        let text = "> |Name|Metric|Role|\n> |---|---|---|\n> |Heartbeat Cluster|1000|1|\n";
        assert_eq!(
            parse(text).unwrap(),
            [("Heartbeat Cluster".into(), 1000, 1)]
        );
    }

    #[test]
    fn errors_are_located() {
        let e = parse("|Name|Metric|\n|---|---|\n|A|1|\n").unwrap_err();
        assert!(
            e.starts_with("t.txt:1:1: the table has no Role column (columns: Name, Metric)"),
            "{e}"
        );
        let e = parse("|Name|Metric|Role|\n|---|---|---|\n|A|1|\n").unwrap_err();
        assert_eq!(
            e,
            "t.txt:3:2: the row has 2 cells, the header has 3 (Name, Metric, Role)"
        );
        let e = parse("Name Metric Role\n---- ------ ----\nA    1000    9\n").unwrap_err();
        assert!(e.starts_with("t.txt:3:14: Role 9 is out of range"), "{e}");
        let e = parse("Name Metric Role\n---- ------ ----\nLong na...  1000    1\n").unwrap_err();
        assert!(e.contains("cut short"), "{e}");
        assert!(parse("nothing here\n")
            .unwrap_err()
            .contains("neither JSON nor"));
    }

    /// Tables mangled by random edits (xorshift, so every run is the same)
    /// give rows or an error, never a panic: cells are sliced at character
    /// boundaries only.
    #[test]
    fn mangled_tables_never_panic() {
        let base = "> |Name|Metric|Role|\r\n> |---|---|---|\r\n> |Heartbeat Cluster|1000|1|\r\n\nName  State Metric Role\n----  ----- ------ ----\nA é  Up  1000 ClusterAndClient\n";
        let alphabet: Vec<char> = "|>- \r\n0123456789aé…".chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..1 + next() % 6 {
                let at = next() as usize % (chars.len() + 1);
                let c = alphabet[next() as usize % alphabet.len()];
                match next() % 3 {
                    0 => chars.insert(at, c),
                    1 if at < chars.len() => drop(chars.remove(at)),
                    _ if at < chars.len() => chars[at] = c,
                    _ => {}
                }
            }
            let _ = parse(&chars.into_iter().collect::<String>());
        }
    }
}
