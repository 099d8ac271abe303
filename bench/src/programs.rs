//! Other benchmark programs that the suite runs as subprocesses, once per repetition
//! (`bench_summer`, the host's `swap` bench): each interleaves its own subject and
//! baseline and writes its figures as JSON, which the suite's step reads back.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::procs::last_lines;

/// Runs `cmd` (which writes its figures to `out`) and parses `out`.
///
/// # Errors
/// If the program cannot start or fails (with its last lines of stderr), or `out` is
/// missing or not JSON.
pub fn run_for_json(mut cmd: Command, what: &str, out: &Path) -> anyhow::Result<Value> {
    let status = cmd.output().with_context(|| format!("starting {what}"))?;
    if !status.status.success() {
        bail!("{what} failed ({}): {}", status.status, last_lines(&String::from_utf8_lossy(&status.stderr), 6));
    }
    let text = std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", out.display()))
}

/// The number at `json[path[0]][path[1]]…`, or its `median` if it is an object.
///
/// # Errors
/// If there is no number there.
pub fn number(json: &Value, path: &[&str]) -> anyhow::Result<f64> {
    let mut v = json;
    for k in path {
        v = &v[*k];
    }
    v.get("median").unwrap_or(v).as_f64().ok_or_else(|| anyhow!("no number at {} in {json}", path.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_is_a_number_or_the_median_of_an_object() {
        let json = serde_json::json!({"a": 2.5, "b": {"median": 3.0, "min": 1.0}, "c": {"d": 4}});
        assert_eq!(number(&json, &["a"]).unwrap(), 2.5);
        assert_eq!(number(&json, &["b"]).unwrap(), 3.0);
        assert_eq!(number(&json, &["c", "d"]).unwrap(), 4.0);
        assert!(number(&json, &["missing"]).is_err());
        assert!(number(&json, &["c"]).is_err());
    }
}
