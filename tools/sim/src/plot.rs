//! A hand-written SVG of a run: root egress (× stream rate) with the viewer count, continuity,
//! and p95 lag, against virtual time, each with its target.

use crate::metrics::Row;
use crate::scenario::Params;
use std::fmt::Write as _;

const W: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const PANEL_H: f64 = 170.0;
const GAP: f64 = 50.0;
const TOP: f64 = 80.0;

/// A "nice" tick step for a span covered by about `n` ticks.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn fmt_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else if step >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Panel {
    y0: f64,
    t_max: f64,
    lo: f64,
    hi: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * (t / self.t_max.max(1.0))
    }
    fn y(&self, v: f64, lo: f64, hi: f64) -> f64 {
        let f = ((v - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
        self.y0 + PANEL_H * (1.0 - f)
    }
    fn yl(&self, v: f64) -> f64 {
        self.y(v, self.lo, self.hi)
    }

    /// Frame, grid, left axis ticks and labels, x ticks.
    fn axes(&self, s: &mut String, title: &str, unit: &str, show_x: bool) {
        let x1 = W - RIGHT;
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="{PANEL_H}" fill="#fff" stroke="#888"/>"##,
            self.y0,
            x1 - LEFT
        );
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"##,
            self.y0 - 8.0,
            esc(title)
        );
        let step = nice_step(self.hi - self.lo, 4.0);
        let mut v = (self.lo / step).ceil() * step;
        while v <= self.hi + step * 1e-6 {
            let y = self.yl(v);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                LEFT - 6.0,
                y + 4.0,
                fmt_tick(v, step)
            );
            v += step;
        }
        let _ = writeln!(
            s,
            r##"<text x="16" y="{:.1}" font-size="12" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"##,
            self.y0 + PANEL_H / 2.0,
            self.y0 + PANEL_H / 2.0,
            esc(unit)
        );
        let tstep = nice_step(self.t_max, 10.0);
        let mut t = 0.0;
        while t <= self.t_max + 1e-6 {
            let x = self.x(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#f2f2f2"/>"##,
                self.y0,
                self.y0 + PANEL_H
            );
            if show_x {
                let _ = writeln!(
                    s,
                    r##"<text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
                    self.y0 + PANEL_H + 15.0,
                    fmt_tick(t, tstep)
                );
            }
            t += tstep;
        }
    }

    fn line(&self, s: &mut String, pts: &[(f64, f64)], lo: f64, hi: f64, color: &str, width: f64) {
        if pts.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, &(t, v)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                self.x(t),
                self.y(v, lo, hi)
            );
        }
        let _ = writeln!(
            s,
            r##"<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"/>"##
        );
    }

    fn target(&self, s: &mut String, v: f64, label: &str) {
        let y = self.yl(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#d62728" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" font-size="11" fill="#d62728" text-anchor="end">{}</text>"##,
            W - RIGHT,
            W - RIGHT - 4.0,
            y - 4.0,
            esc(label)
        );
    }

    fn steady(&self, s: &mut String, from: f64) {
        let x = self.x(from);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#999" stroke-dasharray="2 3"/>"##,
            self.y0,
            self.y0 + PANEL_H
        );
    }
}

fn legend(s: &mut String, x: f64, y: f64, items: &[(&str, &str)]) {
    let mut x = x;
    for (color, label) in items {
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            x + 18.0,
            x + 22.0,
            y + 4.0,
            esc(label)
        );
        x += 30.0 + 6.5 * label.len() as f64;
    }
}

/// The SVG document for a run.
pub fn svg(p: &Params, rows: &[Row]) -> String {
    let h = TOP + 3.0 * PANEL_H + 2.0 * GAP + 60.0;
    let t_max = rows.last().map_or(1.0, |r| r.time_s as f64).max(1.0);
    let steady = p.steady_from_s() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="DejaVu Sans, Arial, sans-serif">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fafafa"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">tvmesh swarm simulation — {} viewers, {} scenario</text>"##,
        p.viewers,
        esc(&p.scenario)
    );
    let d = p.describe();
    let (d1, d2) = d
        .split_once(" · latency")
        .map_or((d.as_str(), String::new()), |(a, b)| {
            (a, format!("latency{b}"))
        });
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="40" font-size="11" fill="#444">{}</text>"##,
        esc(d1)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="54" font-size="11" fill="#444">{} · dotted line: steady state from t = {} s · dashed red: target</text>"##,
        esc(&d2),
        p.steady_from_s()
    );

    // Panel 1: root egress × stream rate, viewers on the right axis.
    let egress: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.time_s as f64, r.root_egress_milli as f64 / 1000.0))
        .collect();
    let e_hi = egress.iter().map(|x| x.1).fold(2.5f64, f64::max).ceil();
    let p1 = Panel {
        y0: TOP + 10.0,
        t_max,
        lo: 0.0,
        hi: e_hi,
    };
    p1.axes(
        &mut s,
        "Root egress (× stream rate) and viewers",
        "× stream rate",
        false,
    );
    let v_max = rows.iter().map(|r| r.viewers).max().unwrap_or(1).max(1) as f64;
    let v_hi = v_max * 1.1;
    let vstep = nice_step(v_hi, 4.0);
    let mut v = 0.0;
    while v <= v_hi {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#7f7f7f">{v:.0}</text>"##,
            W - RIGHT + 6.0,
            p1.y(v, 0.0, v_hi) + 4.0
        );
        v += vstep;
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#7f7f7f" transform="rotate(90 {:.1} {:.1})" text-anchor="middle">viewers</text>"##,
        W - 14.0,
        p1.y0 + PANEL_H / 2.0,
        W - 14.0,
        p1.y0 + PANEL_H / 2.0
    );
    let viewers: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.time_s as f64, r.viewers as f64))
        .collect();
    p1.line(&mut s, &viewers, 0.0, v_hi, "#9a9a9a", 1.5);
    p1.line(&mut s, &egress, 0.0, e_hi, "#1f77b4", 2.0);
    p1.target(&mut s, 2.0, "target ≤ 2×");
    p1.steady(&mut s, steady);
    legend(
        &mut s,
        W - RIGHT - 300.0,
        p1.y0 - 12.0,
        &[
            ("#1f77b4", "root egress"),
            ("#9a9a9a", "viewers (right axis)"),
        ],
    );

    // Panel 2: continuity.
    let cont: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.viewers > 0)
        .map(|r| (r.time_s as f64, r.continuity_ppm as f64 / 10_000.0))
        .collect();
    let c_min = cont.iter().map(|x| x.1).fold(99.0f64, f64::min);
    let c_lo = if c_min >= 99.0 {
        99.0
    } else if c_min >= 95.0 {
        95.0
    } else {
        (c_min / 10.0).floor() * 10.0
    };
    let p2 = Panel {
        y0: p1.y0 + PANEL_H + GAP,
        t_max,
        lo: c_lo,
        hi: 100.0,
    };
    p2.axes(
        &mut s,
        "Continuity: chunks played on time / chunks due, all boxes, per second",
        "%",
        false,
    );
    p2.line(&mut s, &cont, c_lo, 100.0, "#2ca02c", 2.0);
    p2.target(&mut s, 99.5, "target ≥ 99.5%");
    p2.steady(&mut s, steady);

    // Panel 3: p95 lag.
    let lag: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.viewers > 0)
        .map(|r| (r.time_s as f64, r.p95_lag_ms as f64 / 1000.0))
        .collect();
    let l_hi = lag.iter().map(|x| x.1).fold(2.5f64, f64::max).ceil();
    let p3 = Panel {
        y0: p2.y0 + PANEL_H + GAP,
        t_max,
        lo: 0.0,
        hi: l_hi,
    };
    p3.axes(
        &mut s,
        "Lag behind the source: 95th percentile over boxes",
        "seconds",
        true,
    );
    p3.line(&mut s, &lag, 0.0, l_hi, "#ff7f0e", 2.0);
    p3.target(&mut s, 2.0, "target ≤ 2 s");
    p3.steady(&mut s, steady);
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">virtual time (s)</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        p3.y0 + PANEL_H + 34.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_document() {
        assert_eq!(nice_step(10.0, 4.0), 2.5);
        assert_eq!(nice_step(120.0, 10.0), 20.0);
        let rows: Vec<Row> = (1..=30)
            .map(|t| Row {
                time_s: t,
                viewers: 100,
                root_egress_milli: 1800,
                continuity_ppm: 999_000,
                p95_lag_ms: 900,
                ..Row::default()
            })
            .collect();
        let svg = svg(&Params::standard(100), &rows);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 4);
    }
}
