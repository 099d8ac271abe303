//! Figures and their summaries: median, min and max over repetitions, targets, and
//! the rows of the printed table.
//!
//! Pure code (no I/O), unit-tested: the numbers the suite reports come from here.

use std::collections::BTreeMap;

/// A figure's goal, from issue 9.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// The median must be at least this.
    AtLeast(f64),
    /// The median must be at most this.
    AtMost(f64),
    /// The median must be strictly under this.
    Under(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::AtMost(t) => value <= t,
            Target::Under(t) => value < t,
        }
    }

    /// `≥ 0.9`, `≤ 1`, `< 50`.
    pub fn render(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {}", num(t)),
            Target::AtMost(t) => format!("<= {}", num(t)),
            Target::Under(t) => format!("< {}", num(t)),
        }
    }
}

/// Median, min and max of some samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle sample (mean of the two middle ones for an even count).
    pub median: f64,
    /// The least sample.
    pub min: f64,
    /// The greatest sample.
    pub max: f64,
    /// How many samples.
    pub reps: usize,
}

/// The summary of `samples` (NaNs ignored); `None` without samples.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Some(Summary { median, min: v[0], max: v[n - 1], reps: n })
}

/// One named figure: its samples (one per repetition), unit, baseline and target.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// Unit, e.g. `chunks/s`, `ms`, `ratio`.
    pub unit: &'static str,
    /// One value per repetition.
    pub samples: Vec<f64>,
    /// The figure measured in the same run that this one is compared with.
    pub baseline: Option<String>,
    /// The goal, if it sets one.
    pub target: Option<Target>,
    /// What it measures (one line, for the JSON).
    pub about: &'static str,
}

/// All figures of a run, by name, and the steps that failed.
#[derive(Debug, Default)]
pub struct Figures {
    /// By name.
    pub figures: BTreeMap<String, Figure>,
    /// (figure names, error) of each failed step.
    pub failures: Vec<(String, String)>,
}

impl Figures {
    /// Declares `name` (once; later calls keep the first declaration).
    pub fn declare(&mut self, name: &str, unit: &'static str, about: &'static str, baseline: Option<&str>, target: Option<Target>) {
        self.figures.entry(name.to_string()).or_insert_with(|| Figure {
            unit,
            samples: Vec::new(),
            baseline: baseline.map(str::to_string),
            target,
            about,
        });
    }

    /// Adds one repetition's value of `name` (declared on the fly without a unit).
    pub fn push(&mut self, name: &str, value: f64) {
        self.figures.entry(name.to_string()).or_default().samples.push(value);
    }

    /// The median of `name`, if it has samples.
    pub fn median(&self, name: &str) -> Option<f64> {
        self.figures.get(name).and_then(|f| summarize(&f.samples)).map(|s| s.median)
    }

    /// The table's rows: figure, median, min–max, baseline, ratio, target, met?.
    pub fn rows(&self) -> Vec<[String; 7]> {
        let mut rows = Vec::new();
        for (name, f) in &self.figures {
            let Some(s) = summarize(&f.samples) else {
                let why = self.failures.iter().find(|(names, _)| names.split(", ").any(|n| n == name));
                let text = if why.is_some() { "FAILED" } else { "no data" };
                rows.push([name.clone(), text.into(), "-".into(), "-".into(), "-".into(), f.target.map_or("-".into(), Target::render), "no".into()]);
                continue;
            };
            let base = f.baseline.as_deref().and_then(|b| self.median(b).map(|m| (b, m)));
            let (base_text, ratio) = match base {
                Some((b, m)) => (format!("{} ({b})", num(m)), if m != 0.0 { num(s.median / m) } else { "-".into() }),
                None => ("-".into(), "-".into()),
            };
            rows.push([
                name.clone(),
                format!("{} {}", num(s.median), f.unit),
                format!("{}–{}", num(s.min), num(s.max)),
                base_text,
                ratio,
                f.target.map_or("-".into(), Target::render),
                f.target.map_or("-".into(), |t| if t.met(s.median) { "yes".into() } else { "NO".into() }),
            ]);
        }
        rows
    }

    /// The figures as JSON: `{name: {median, min, max, reps, unit, baseline, target, met}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (name, f) in &self.figures {
            let mut v = serde_json::json!({"unit": f.unit, "about": f.about, "samples": f.samples});
            if let Some(s) = summarize(&f.samples) {
                v["median"] = s.median.into();
                v["min"] = s.min.into();
                v["max"] = s.max.into();
                v["reps"] = s.reps.into();
                if let Some(t) = f.target {
                    v["met"] = t.met(s.median).into();
                }
            } else {
                v["reps"] = 0.into();
            }
            if let Some(b) = &f.baseline {
                v["baseline"] = b.as_str().into();
                if let (Some(m), Some(s)) = (self.median(b), summarize(&f.samples)) {
                    v["over_baseline"] = (s.median / m).into();
                }
            }
            if let Some(t) = f.target {
                v["target"] = t.render().into();
            }
            out.insert(name.clone(), v);
        }
        serde_json::Value::Object(out)
    }
}

/// A number with about four significant digits, no exponent for usual magnitudes.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `rows` as a Markdown table under `header`.
pub fn markdown(header: &[&str], rows: &[[String; 7]]) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_of_odd_even_and_unsorted_samples() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]), Some(Summary { median: 2.0, min: 1.0, max: 3.0, reps: 3 }));
        assert_eq!(summarize(&[4.0, 1.0, 3.0, 2.0]), Some(Summary { median: 2.5, min: 1.0, max: 4.0, reps: 4 }));
        assert_eq!(summarize(&[7.0]), Some(Summary { median: 7.0, min: 7.0, max: 7.0, reps: 1 }));
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN, 5.0]).map(|s| (s.median, s.reps)), Some((5.0, 1)));
    }

    #[test]
    fn targets_compare_the_median() {
        assert!(Target::AtLeast(0.9).met(0.9) && !Target::AtLeast(0.9).met(0.89));
        assert!(Target::AtMost(1.0).met(1.0) && !Target::AtMost(1.0).met(1.01));
        assert!(Target::Under(50.0).met(49.9) && !Target::Under(50.0).met(50.0));
        assert_eq!(Target::AtLeast(0.9).render(), ">= 0.900");
    }

    #[test]
    fn rows_hold_baseline_ratio_target_and_failures() {
        let mut f = Figures::default();
        f.declare("wasm", "chunks/s", "", Some("native"), None);
        f.declare("native", "chunks/s", "", None, None);
        f.declare("ratio", "ratio", "", None, Some(Target::AtLeast(0.9)));
        f.declare("broken", "ms", "", None, Some(Target::Under(10.0)));
        for (w, n) in [(900.0, 1000.0), (800.0, 1000.0), (950.0, 1000.0)] {
            f.push("wasm", w);
            f.push("native", n);
            f.push("ratio", w / n);
        }
        f.failures.push(("broken, other".into(), "it failed".into()));
        let rows = f.rows();
        let row = |name: &str| rows.iter().find(|r| r[0] == name).unwrap().clone();
        assert_eq!(row("wasm")[1], "900.0 chunks/s");
        assert_eq!(row("wasm")[2], "800.0–950.0");
        assert_eq!(row("wasm")[3], "1000 (native)");
        assert_eq!(row("wasm")[4], "0.900");
        assert_eq!(row("ratio")[6], "yes");
        assert_eq!(row("broken")[1], "FAILED");
        let json = f.to_json();
        assert_eq!(json["wasm"]["median"], 900.0);
        assert_eq!(json["wasm"]["reps"], 3);
        assert_eq!(json["ratio"]["met"], true);
        assert_eq!(json["broken"]["reps"], 0);
    }
}
