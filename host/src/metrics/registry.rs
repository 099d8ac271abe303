//! A small Prometheus registry: counters, gauges and fixed-bucket histograms, rendered
//! in the text exposition format (version 0.0.4).
//!
//! Gazette registers its metrics with the Go Prometheus client (`broker/metrics.go`,
//! `consumer/metrics.go`); a full client library is more than the handful of series
//! the host needs, so this is an in-house map from (family, labels) to a value behind
//! one mutex. Updates happen per guest call, per append and per transaction — never
//! per message — so the lock is cold.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of every latency histogram: 0.5 ms … 10 s.
pub const SECONDS_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a family holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Set to the current value.
    Gauge,
    /// Observations counted into [`SECONDS_BUCKETS`].
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Label pairs of one series, in the order given.
pub type Labels = Vec<(&'static str, String)>;

/// One series' value.
#[derive(Clone, Debug)]
enum Value {
    /// A counter's or gauge's value.
    Scalar(f64),
    /// Non-cumulative bucket counts (one more than the bounds: +Inf), sum and count.
    Histogram { buckets: Vec<u64>, sum: f64, count: u64 },
}

/// A metric family: its help text, kind and series.
#[derive(Debug)]
struct Family {
    /// `# HELP` text.
    help: &'static str,
    /// Its type.
    kind: Kind,
    /// Series by label values.
    series: BTreeMap<Labels, Value>,
}

/// Metric families by name.
#[derive(Debug, Default)]
pub struct Registry {
    /// Families by name (sorted, so output is stable).
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    fn update(&self, name: &'static str, help: &'static str, kind: Kind, labels: Labels, f: impl FnOnce(&mut Value)) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families.entry(name).or_insert_with(|| Family { help, kind, series: BTreeMap::new() });
        let value = family.series.entry(labels).or_insert_with(|| match kind {
            Kind::Histogram => Value::Histogram { buckets: vec![0; SECONDS_BUCKETS.len() + 1], sum: 0.0, count: 0 },
            _ => Value::Scalar(0.0),
        });
        f(value);
    }

    /// Adds `by` to a counter (creating it at 0 first).
    pub fn add(&self, name: &'static str, help: &'static str, labels: Labels, by: f64) {
        self.update(name, help, Kind::Counter, labels, |v| {
            if let Value::Scalar(x) = v {
                *x += by;
            }
        });
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, help: &'static str, labels: Labels, to: f64) {
        self.update(name, help, Kind::Gauge, labels, |v| *v = Value::Scalar(to));
    }

    /// Records one observation (seconds) in a histogram.
    pub fn observe(&self, name: &'static str, help: &'static str, labels: Labels, seconds: f64) {
        self.update(name, help, Kind::Histogram, labels, |v| {
            if let Value::Histogram { buckets, sum, count } = v {
                let i = SECONDS_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(SECONDS_BUCKETS.len());
                buckets[i] += 1;
                *sum += seconds;
                *count += 1;
            }
        });
    }

    /// A counter's or gauge's value, or a histogram's (sum, count) as (sum) — for
    /// tests and the status page.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.sum_count(name, labels).map(|(v, _)| v)
    }

    /// Sum of a histogram's observations and their count over every series whose
    /// labels include `labels` (a counter or gauge gives its summed value and the
    /// number of series).
    pub fn sum_count(&self, name: &str, labels: &[(&str, &str)]) -> Option<(f64, u64)> {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families.get(name)?;
        let mut total = (0.0, 0);
        for (series_labels, value) in &family.series {
            if !labels.iter().all(|(k, v)| series_labels.iter().any(|(sk, sv)| sk == k && sv == v)) {
                continue;
            }
            match value {
                Value::Scalar(x) => total = (total.0 + x, total.1 + 1),
                Value::Histogram { sum, count, .. } => total = (total.0 + sum, total.1 + count),
            }
        }
        Some(total)
    }

    /// Appends every family in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            for (labels, value) in &family.series {
                match value {
                    Value::Scalar(x) => {
                        let _ = writeln!(out, "{name}{} {}", format_labels(labels, None), format_value(*x));
                    }
                    Value::Histogram { buckets, sum, count } => {
                        render_histogram(out, name, labels, buckets, *sum, *count)
                    }
                }
            }
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, buckets: &[u64], sum: f64, count: u64) {
    let mut cumulative = 0;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        let le = SECONDS_BUCKETS.get(i).map(|b| format_value(*b)).unwrap_or_else(|| "+Inf".into());
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", format_labels(labels, Some(&le)));
    }
    let _ = writeln!(out, "{name}_sum{} {}", format_labels(labels, None), format_value(sum));
    let _ = writeln!(out, "{name}_count{} {count}", format_labels(labels, None));
}

/// `{a="x",b="y"}` (empty without labels), with `le` last if given.
pub fn format_labels(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Integers without a fraction, others as Rust prints them.
pub fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_histograms_render_in_text_format() {
        let r = Registry::new();
        r.add("t_total", "A counter.", vec![("shard", "a\"b".into())], 2.0);
        r.add("t_total", "A counter.", vec![("shard", "a\"b".into())], 3.0);
        r.set("t_gauge", "A gauge.", vec![], 1.5);
        r.observe("t_seconds", "A histogram.", vec![("k", "x".into())], 0.003);
        r.observe("t_seconds", "A histogram.", vec![("k", "x".into())], 60.0);
        let mut out = String::new();
        r.render(&mut out);
        assert!(out.contains("# TYPE t_total counter\nt_total{shard=\"a\\\"b\"} 5\n"), "{out}");
        assert!(out.contains("# TYPE t_gauge gauge\nt_gauge 1.5\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{k=\"x\",le=\"0.0025\"} 0\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{k=\"x\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{k=\"x\",le=\"10\"} 1\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{k=\"x\",le=\"+Inf\"} 2\n"), "{out}");
        assert!(out.contains("t_seconds_sum{k=\"x\"} 60.003\nt_seconds_count{k=\"x\"} 2\n"), "{out}");
        assert_eq!(r.sum_count("t_seconds", &[("k", "x")]), Some((60.003, 2)));
        assert_eq!(r.get("t_total", &[]), Some(5.0));
        assert_eq!(r.get("missing", &[]), None);
    }

    #[test]
    fn buckets_are_sorted_and_span_half_a_millisecond_to_ten_seconds() {
        assert!(SECONDS_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((SECONDS_BUCKETS[0], SECONDS_BUCKETS[SECONDS_BUCKETS.len() - 1]), (0.0005, 10.0));
    }
}
