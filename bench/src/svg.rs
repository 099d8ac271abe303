//! Hand-written SVG plots: line charts (with min–max whiskers, optional log x axis)
//! and horizontal bar charts. No plotting dependency: a plot is a few dozen elements.
//!
//! Pure code, unit-tested.

use std::fmt::Write;

/// One series of a line chart: (x, median, min, max) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A line chart's axes and series.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Log-2 x axis (chunk sizes, partition counts).
    pub log_x: bool,
    /// Log-10 y axis (series of very different magnitudes).
    pub log_y: bool,
    /// The series (colours by index).
    pub series: Vec<Series>,
}

/// Colours of series, in order.
const COLOURS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// Escapes text for SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A tick label: 1.5k, 2M, 0.25.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A power-of-two tick label: 512, 2Ki, 64Ki.
fn bytes_tick(v: f64) -> String {
    if v >= 1024.0 {
        format!("{}Ki", trim(v / 1024.0))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A "nice" upper bound for an axis starting at 0.
pub fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= max {
            return m * mag;
        }
    }
    10.0 * mag
}

impl LineChart {
    /// The chart as an SVG document.
    pub fn render(&self) -> String {
        let pts = self.series.iter().flat_map(|s| s.points.iter());
        let xs: Vec<f64> = pts.clone().map(|p| self.fx(p.0)).collect();
        let (x0, x1) = match (xs.iter().cloned().reduce(f64::min), xs.iter().cloned().reduce(f64::max)) {
            (Some(a), Some(b)) if b > a => (a, b),
            (Some(a), _) => (a - 1.0, a + 1.0),
            _ => (0.0, 1.0),
        };
        let y1 = nice_max(pts.clone().map(|p| p.3.max(p.1)).fold(0.0, f64::max));
        // Log y: whole decades from below the least value to above the greatest.
        let lo = pts.map(|p| p.2.min(p.1)).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let (d0, d1) = if lo.is_finite() { (lo.log10().floor(), y1.log10().ceil().max(lo.log10().floor() + 1.0)) } else { (0.0, 1.0) };
        let log_y = self.log_y;
        let px = |x: f64| LEFT + (self.fx(x) - x0) / (x1 - x0) * (W - LEFT - RIGHT);
        let py = |y: f64| {
            let frac = if log_y { (y.max(10f64.powf(d0)).log10() - d0) / (d1 - d0) } else { y / y1 };
            TOP + (1.0 - frac) * (H - TOP - BOTTOM)
        };
        let mut s = header(&self.title);
        // Axes and grid.
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#000"/>"##, H - BOTTOM, W - RIGHT, H - BOTTOM);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#000"/>"##, H - BOTTOM);
        let yticks: Vec<f64> = if log_y {
            (d0 as i32..=d1 as i32).map(|d| 10f64.powi(d)).collect()
        } else {
            (0..=5).map(|i| y1 * i as f64 / 5.0).collect()
        };
        for y in yticks {
            let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{0:.1}" text-anchor="end" dy="4">{3}</text>"##, py(y), W - RIGHT, LEFT - 6.0, tick(y));
        }
        let mut xticks: Vec<f64> = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        xticks.sort_by(f64::total_cmp);
        xticks.dedup();
        for x in xticks {
            let label = if self.log_x { bytes_tick(x) } else { tick(x) };
            let _ = writeln!(s, r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##, px(x), H - BOTTOM + 18.0, label);
        }
        let _ = writeln!(s, r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##, (LEFT + W - RIGHT) / 2.0, H - 14.0, escape(&self.x_label));
        let _ = writeln!(s, r##"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">{1}</text>"##, (TOP + H - BOTTOM) / 2.0, escape(&self.y_label));
        for (i, series) in self.series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let path: Vec<String> = series.points.iter().map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1))).collect();
            let _ = writeln!(s, r##"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"##, path.join(" "));
            for p in &series.points {
                let _ = writeln!(s, r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="{c}"/><circle cx="{0:.1}" cy="{3:.1}" r="3" fill="{c}"/>"##, px(p.0), py(p.2), py(p.3), py(p.1));
            }
            let ly = TOP + 4.0 + 16.0 * i as f64;
            let _ = writeln!(s, r##"<rect x="{}" y="{}" width="12" height="3" fill="{c}"/><text x="{}" y="{}">{}</text>"##, LEFT + 10.0, ly, LEFT + 26.0, ly + 5.0, escape(&series.name));
        }
        s.push_str("</svg>\n");
        s
    }

    fn fx(&self, x: f64) -> f64 {
        if self.log_x {
            x.max(1e-12).log2()
        } else {
            x
        }
    }
}

/// A horizontal bar chart: (label, value, optional target) bars, all in one unit.
pub fn bar_chart(title: &str, unit: &str, bars: &[(String, f64, Option<f64>)]) -> String {
    let row = 26.0;
    let height = TOP + row * bars.len() as f64 + 40.0;
    let label_w = 230.0;
    let max = nice_max(bars.iter().map(|b| b.1.max(b.2.unwrap_or(0.0))).fold(0.0, f64::max));
    let bx = |v: f64| label_w + v / max * (W - label_w - 60.0);
    let mut s = header(title).replace(&format!(r#"height="{H}""#), &format!(r#"height="{height}""#));
    for (i, (label, value, target)) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let _ = writeln!(s, r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##, label_w - 6.0, y + 15.0, escape(label));
        let _ = writeln!(s, r##"<rect x="{label_w}" y="{}" width="{:.1}" height="18" fill="{}"/>"##, y + 2.0, (bx(*value) - label_w).max(0.0), COLOURS[0]);
        let _ = writeln!(s, r##"<text x="{:.1}" y="{}">{}</text>"##, bx(*value) + 4.0, y + 15.0, tick(*value));
        if let Some(t) = target {
            let _ = writeln!(s, r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#d62728" stroke-width="2" stroke-dasharray="4 2"/>"##, bx(*t), y, y + 22.0);
        }
    }
    let _ = writeln!(s, r##"<text x="{label_w}" y="{}">{} (dashed red: target)</text>"##, height - 12.0, escape(unit));
    s.push_str("</svg>\n");
    s
}

fn header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima_round_up() {
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(240.0), 250.0);
    }

    #[test]
    fn a_line_chart_places_points_and_whiskers() {
        let chart = LineChart {
            title: "T <&>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: false,
            log_y: false,
            series: vec![Series { name: "a".into(), points: vec![(0.0, 50.0, 40.0, 60.0), (10.0, 100.0, 100.0, 100.0)] }],
        };
        let svg = chart.render();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains("T &lt;&amp;&gt;"));
        // y axis 0..100 maps to 340..40; x 0..10 maps to 80..620.
        assert!(svg.contains(r#"points="80.0,190.0 620.0,40.0""#), "{svg}");
        // The whisker of the first point spans 40..60.
        assert!(svg.contains(r#"<line x1="80.0" y1="220.0" x2="80.0" y2="160.0""#), "{svg}");
    }

    #[test]
    fn a_log_x_chart_spaces_powers_of_two_evenly() {
        let chart = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: true,
            log_y: false,
            series: vec![Series { name: "a".into(), points: vec![(32.0, 1.0, 1.0, 1.0), (64.0, 1.0, 1.0, 1.0), (128.0, 1.0, 1.0, 1.0)] }],
        };
        assert!(chart.render().contains(r#"points="80.0,40.0 350.0,40.0 620.0,40.0""#), "{}", chart.render());
    }

    #[test]
    fn a_log_y_chart_spans_whole_decades() {
        let chart = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: true,
            log_y: true,
            series: vec![Series { name: "a".into(), points: vec![(1024.0, 10.0, 10.0, 10.0), (2048.0, 1000.0, 1000.0, 1000.0)] }],
        };
        let svg = chart.render();
        // Decades 10..1000 map to 340..40.
        assert!(svg.contains(r#"points="80.0,340.0 620.0,40.0""#), "{svg}");
        assert!(svg.contains(">1k</text>") && svg.contains(">2Ki</text>"), "{svg}");
    }

    #[test]
    fn a_bar_chart_has_one_bar_per_value_and_target_lines() {
        let svg = bar_chart("ratios", "ratio", &[("wasm/native".into(), 0.5, Some(0.9)), ("x".into(), 1.0, None)]);
        assert_eq!(svg.matches("<rect x=\"230\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert!(svg.contains("wasm/native"));
    }
}
