//! Charts as inline SVG, written by hand: a class's throughput over time
//! (one layer per network, stacked, coloured by status, percentile lines
//! marked) and a violating flow's own small chart. Colours are CSS classes
//! (`style.css`), so the page's light and dark schemes and print apply to
//! the charts too; every chart has a `<title>` and an `aria-label`.

use std::fmt::Write as _;

use analyzer::policy::Status;
use analyzer::report::Bins;
use analyzer::stats::Throughput;
use capture::Timestamp;

use super::esc;
use crate::output::human_bps;

/// Columns a chart draws at most; longer spans average bins per column.
pub const MAX_COLUMNS: i64 = 480;

const W: f64 = 960.0;
const H: f64 = 260.0;
/// The plot area: left of it the throughput labels, right of it the
/// percentile labels, below it the time labels.
const X0: f64 = 72.0;
const X1: f64 = W - 185.0;
const Y0: f64 = 14.0;
const Y1: f64 = H - 34.0;

/// One stacked layer: a network of the class, and its status.
pub struct Layer<'a> {
    pub name: &'a str,
    pub status: Status,
    pub bins: &'a Bins,
}

/// The time axis: bins `first..=last`, `per` bins to a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub first: i64,
    pub last: i64,
    pub bin_ns: i64,
    pub per: i64,
}

impl Axis {
    /// The axis spanning every layer's bins (`None` when all are empty).
    pub fn over<'a>(all: impl Iterator<Item = &'a Bins>) -> Option<Axis> {
        let mut span: Option<(i64, i64, i64)> = None;
        for b in all {
            if let Some((f, l)) = b.range() {
                let (sf, sl, _) = span.unwrap_or((f, l, b.bin_ns));
                span = Some((sf.min(f), sl.max(l), b.bin_ns));
            }
        }
        let (first, last, bin_ns) = span?;
        let per = (last - first + 1 + MAX_COLUMNS - 1) / MAX_COLUMNS;
        Some(Axis {
            first,
            last,
            bin_ns,
            per,
        })
    }

    /// Columns drawn.
    pub fn columns(&self) -> usize {
        ((self.last - self.first) / self.per + 1) as usize
    }

    /// Mean bit/s of each column of `b` (the last column may hold fewer bins).
    pub fn bps(&self, b: &Bins) -> Vec<f64> {
        let mut bytes = vec![0u64; self.columns()];
        for &(i, v) in &b.active {
            if let Some(c) = bytes.get_mut(((i - self.first) / self.per) as usize) {
                *c += v;
            }
        }
        let bins_in = |c: usize| (self.per).min(self.last - self.first + 1 - c as i64 * self.per);
        bytes
            .iter()
            .enumerate()
            .map(|(c, v)| *v as f64 * 8e9 / (bins_in(c) as f64 * self.bin_ns as f64))
            .collect()
    }

    fn start_ns(&self) -> i64 {
        self.first.saturating_mul(self.bin_ns)
    }

    fn end_ns(&self) -> i64 {
        (self.last + 1).saturating_mul(self.bin_ns)
    }

    /// The x coordinate of time `t` (ns since the epoch).
    fn x(&self, t: i64) -> f64 {
        // In f64: a merged summary's times may lie anywhere in the clock.
        let span = (self.end_ns() as f64 - self.start_ns() as f64).max(1.0);
        X0 + (t as f64 - self.start_ns() as f64) / span * (X1 - X0)
    }

    /// The left edge of column `c`.
    fn col_x(&self, c: usize) -> f64 {
        let bin = (self.first + c as i64 * self.per).min(self.last + 1);
        self.x(bin.saturating_mul(self.bin_ns))
    }
}

/// The smallest "round" value (1, 2, 2.5, 5 × 10ⁿ) at or above `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag)
}

/// A time tick step (ns) giving at most 6 ticks over `span_ns`.
fn tick_step(span_ns: i64) -> i64 {
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;
    const STEPS: [i64; 24] = [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
        1800 * S,
        3600 * S,
        6 * 3600 * S,
        86_400 * S,
    ];
    let day = 86_400 * S;
    STEPS
        .iter()
        .copied()
        .find(|s| span_ns / s <= 5)
        .unwrap_or_else(|| (span_ns / 5 / day + 1) * day)
}

/// A tick label: the time of day (with milliseconds below a second), or
/// the date for steps of a day or more.
fn tick_label(t: i64, step: i64) -> String {
    let text = Timestamp(t).to_string();
    let (date, rest) = text.split_once('T').unwrap_or((&text, ""));
    let clock = rest.trim_end_matches('Z');
    if step >= 86_400_000_000_000 {
        date.to_string()
    } else if step >= 1_000_000_000 {
        clock.chars().take(8).collect()
    } else {
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        format!("{hms}.{:0<3}", &frac[..frac.len().min(3)])
    }
}

/// The SVG class of a layer: its status and its place among layers of
/// that status (shades).
fn layer_class(status: Status, nth: usize) -> String {
    format!("layer {}-{}", status.as_str(), nth % 4)
}

/// The class of the `i`-th layer: its status, shaded by how many layers of
/// that status came before it.
pub fn layer_classes(layers: &[Layer<'_>]) -> Vec<String> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let nth = layers[..i].iter().filter(|o| o.status == l.status).count();
            layer_class(l.status, nth)
        })
        .collect()
}

/// A step area between `bottom` and `top` (per column), as a path.
fn area(axis: &Axis, bottom: &[f64], top: &[f64], y: &dyn Fn(f64) -> f64) -> String {
    let mut d = format!("M{:.1},{:.1}", axis.col_x(0), y(bottom[0]));
    for (c, t) in top.iter().enumerate() {
        let _ = write!(d, "V{:.1}H{:.1}", y(*t), axis.col_x(c + 1));
    }
    for c in (0..bottom.len()).rev() {
        let _ = write!(d, "V{:.1}H{:.1}", y(bottom[c]), axis.col_x(c));
    }
    d.push('Z');
    d
}

/// What a class chart shows.
pub struct ClassChart<'a> {
    /// Unique within the page (SVG ids).
    pub id: &'a str,
    pub class: &'a str,
    pub layers: Vec<Layer<'a>>,
    pub total: &'a Bins,
    pub throughput: &'a Throughput,
}

/// Writes a class chart: the layers stacked, percentile lines, axes.
pub fn class_chart(out: &mut String, c: &ClassChart<'_>) {
    let all = c.layers.iter().map(|l| l.bins).chain([c.total]);
    let Some(axis) = Axis::over(all) else {
        out.push_str("<p class=\"empty\">no traffic</p>");
        return;
    };
    let cols: Vec<Vec<f64>> = c.layers.iter().map(|l| axis.bps(l.bins)).collect();
    let mut tops = vec![vec![0.0; axis.columns()]];
    for col in &cols {
        let prev = tops.last().cloned().unwrap_or_default();
        tops.push(prev.iter().zip(col).map(|(a, b)| a + b).collect());
    }
    let peak = tops
        .last()
        .map_or(0.0, |t| t.iter().cloned().fold(0.0, f64::max));
    let ymax = nice_ceiling(peak.max(c.throughput.max as f64));
    let y = move |v: f64| Y1 - v / ymax * (Y1 - Y0);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-t\">\
         <title id=\"{id}-t\">{cls}: throughput over time, stacked by network</title>",
        id = esc(c.id),
        cls = esc(c.class),
    );
    grid(out, &axis, ymax, &y);
    let classes = layer_classes(&c.layers);
    for (i, l) in c.layers.iter().enumerate() {
        let _ = write!(
            out,
            "<path class=\"{}\" d=\"{}\"><title>{} ({})</title></path>",
            classes[i],
            area(&axis, &tops[i], &tops[i + 1], &y),
            esc(l.name),
            l.status.as_str()
        );
    }
    total_line(out, &axis, c.total, &y);
    percentiles(out, c.throughput, &y);
    out.push_str("</svg>");
}

/// The class's own throughput as a line over the layers: where flows
/// between two networks count in both, the stack stands above it.
fn total_line(out: &mut String, axis: &Axis, total: &Bins, y: &dyn Fn(f64) -> f64) {
    let cols = axis.bps(total);
    let mut d = format!("M{:.1},{:.1}", axis.col_x(0), y(cols[0]));
    for (c, v) in cols.iter().enumerate() {
        let _ = write!(d, "V{:.1}H{:.1}", y(*v), axis.col_x(c + 1));
    }
    let _ = write!(
        out,
        "<path class=\"total\" d=\"{d}\"><title>class total</title></path>"
    );
}

/// Axes, grid lines and their labels.
fn grid(out: &mut String, axis: &Axis, ymax: f64, y: &dyn Fn(f64) -> f64) {
    out.push_str("<g class=\"grid\">");
    for k in 0..=4 {
        let v = ymax * f64::from(k) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{X0}\" x2=\"{X1}\" y1=\"{yv:.1}\" y2=\"{yv:.1}\"/>\
             <text class=\"ylabel\" x=\"{lx}\" y=\"{ty:.1}\">{}</text>",
            human_bps(v.round() as u64),
            yv = y(v),
            lx = X0 - 6.0,
            ty = y(v) + 4.0,
        );
    }
    let step = tick_step(axis.end_ns().saturating_sub(axis.start_ns()));
    let mut t = axis.start_ns().div_euclid(step).saturating_mul(step);
    if t < axis.start_ns() {
        t = t.saturating_add(step);
    }
    while t <= axis.end_ns() {
        let x = axis.x(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{Y0}\" y2=\"{Y1}\"/>\
             <text class=\"xlabel\" x=\"{x:.1}\" y=\"{ty}\">{}</text>",
            tick_label(t, step),
            ty = Y1 + 16.0,
        );
        match t.checked_add(step) {
            Some(n) => t = n,
            None => break,
        }
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{X0}\" x2=\"{X1}\" y1=\"{Y1}\" y2=\"{Y1}\"/></g>"
    );
}

/// Dashed lines at p50, p90, p99 and max of the class, labelled at the
/// right; equal values share a line, close labels are nudged apart.
fn percentiles(out: &mut String, t: &Throughput, y: &dyn Fn(f64) -> f64) {
    let mut lines: Vec<(u64, Vec<&str>)> = Vec::new();
    for (name, v) in [
        ("p50", t.p50),
        ("p90", t.p90),
        ("p99", t.p99),
        ("max", t.max),
    ] {
        match lines.iter_mut().find(|(x, _)| *x == v) {
            Some((_, names)) => names.push(name),
            None => lines.push((v, vec![name])),
        }
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    let mut last_label = f64::NEG_INFINITY;
    out.push_str("<g class=\"pct\">");
    for (v, names) in lines {
        let yl = y(v as f64);
        let ty = (yl + 4.0).max(last_label + 12.0);
        last_label = ty;
        let _ = write!(
            out,
            "<line x1=\"{X0}\" x2=\"{X1}\" y1=\"{yl:.1}\" y2=\"{yl:.1}\"/>\
             <text x=\"{lx}\" y=\"{ty:.1}\">{} {}</text>",
            names.join("="),
            human_bps(v),
            lx = X1 + 6.0,
        );
    }
    out.push_str("</g>");
}

/// A violating flow's own small chart: its bytes per bin as a step area,
/// scaled to its own peak.
pub fn sparkline(out: &mut String, b: &Bins) {
    const SW: f64 = 160.0;
    const SH: f64 = 34.0;
    let Some(axis) = Axis::over([b].into_iter()) else {
        return;
    };
    let cols = axis.bps(b);
    let peak = cols.iter().cloned().fold(0.0, f64::max).max(1.0);
    let scale_x = |x: f64| (x - X0) / (X1 - X0) * SW;
    let mut d = format!("M0,{SH}");
    for (c, v) in cols.iter().enumerate() {
        let top = SH - v / peak * (SH - 2.0);
        let _ = write!(d, "V{top:.1}H{:.1}", scale_x(axis.col_x(c + 1)));
    }
    let _ = write!(d, "V{SH}Z");
    let _ = write!(
        out,
        "<svg class=\"spark\" viewBox=\"0 0 {SW} {SH}\" role=\"img\" aria-label=\"{label}\">\
         <title>{label}</title><path d=\"{d}\"/></svg>",
        label = esc(&format!(
            "the flow over time: {} bins of {}, peak {}",
            axis.columns(),
            duration(axis.per.saturating_mul(axis.bin_ns)),
            human_bps(peak as u64)
        )),
    );
}

/// A bin length in words: `1 s`, `500 ms`, `4 min`.
pub fn duration(ns: i64) -> String {
    let ms = ns / 1_000_000;
    match ms {
        _ if ms < 1_000 => format!("{ms} ms"),
        _ if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{} s", ms / 1_000),
        _ => format!("{:.1} s", ms as f64 / 1_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(active: &[(i64, u64)]) -> Bins {
        Bins {
            bin_ns: 1_000_000_000,
            active: active.to_vec(),
        }
    }

    #[test]
    fn columns_average_their_bins() {
        let b = bins(&[(0, 1000), (5, 3000)]);
        let a = Axis::over([&b].into_iter()).unwrap();
        assert_eq!((a.per, a.columns()), (1, 6));
        assert_eq!(a.bps(&b), [8000.0, 0.0, 0.0, 0.0, 0.0, 24000.0]);
        // 1000 bins: 3 a column, the last holding one.
        let long = bins(&[(0, 3), (999, 1)]);
        let a = Axis::over([&long].into_iter()).unwrap();
        assert_eq!((a.per, a.columns()), (3, 334));
        let cols = a.bps(&long);
        assert_eq!((cols[0], cols[333]), (8.0, 8.0));
    }

    #[test]
    fn round_ceilings_and_ticks() {
        assert_eq!(nice_ceiling(24_000.0), 25_000.0);
        assert_eq!(nice_ceiling(812e6), 1e9);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(tick_step(5_000_000_000), 1_000_000_000);
        assert_eq!(
            tick_label(1_700_000_001_000_000_000, 1_000_000_000),
            "22:13:21"
        );
        assert_eq!(
            tick_label(1_700_000_001_500_000_000, 500_000_000),
            "22:13:21.500"
        );
        assert_eq!(duration(4 * 60_000_000_000), "4 min");
    }
}
