//! How `journals list` (and any other status listing) prints: an aligned table for
//! people, JSON lines for scripts, tab-separated values for shell pipelines.
//!
//! gazctl prints tables with `olekukonko/tablewriter` and offers `--format json`
//! (`cmd/gazctl/gazctlcmd/journals_list.go`); [`table`] is the same idea without
//! borders, and is shared with other listings (e.g. shards).

use clap::ValueEnum;

use crate::journal::JournalInfo;

/// Output format of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns under a header.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
    /// Tab-separated columns, no header.
    Tsv,
}

/// `rows` under `headers`, each column as wide as its widest cell, separated by two
/// spaces (the last column is not padded).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count()) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// `zone#suffix:PRIMARY` of a journal's primary, then `zone#suffix:REPLICA` of each
/// other member; `-` for a journal no broker serves.
pub fn route_text(route: &crate::journal::Route) -> String {
    let mut members: Vec<(bool, String)> = route
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let primary = route.primary == Some(i);
            (primary, format!("{}#{}:{}", m.zone, m.suffix, if primary { "PRIMARY" } else { "REPLICA" }))
        })
        .collect();
    members.sort_by_key(|(primary, _)| !primary);
    if members.is_empty() {
        return "-".into();
    }
    members.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join(",")
}

/// A write head, or `?` where it could not be read (-1).
fn head_text(head: i64) -> String {
    if head < 0 {
        "?".into()
    } else {
        head.to_string()
    }
}

/// The journal listing in `format` (a write head of -1, unknown, prints as `?`, and
/// as `null` in JSON).
pub fn render(journals: &[JournalInfo], format: ListFormat) -> String {
    let labels =
        |j: &JournalInfo| j.spec.labels.0.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>();
    match format {
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = journals
                .iter()
                .map(|j| vec![j.spec.name.clone(), labels(j).join(","), head_text(j.write_head), route_text(&j.route)])
                .collect();
            table(&["JOURNAL", "LABELS", "WRITE HEAD", "ROUTE"], &rows)
        }
        ListFormat::Json => journals
            .iter()
            .map(|j| {
                let v = serde_json::json!({
                    "name": j.spec.name, "labels": labels(j), "write_head": (j.write_head >= 0).then_some(j.write_head),
                    "mod_revision": j.mod_revision, "create_revision": j.create_revision, "spec": j.spec,
                    "route": route_text(&j.route),
                });
                format!("{v}\n")
            })
            .collect(),
        ListFormat::Tsv => journals
            .iter()
            .map(|j| format!("{}\t{}\t{}\t{}\n", j.spec.name, head_text(j.write_head), j.mod_revision, labels(j).join(",")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalSpec, LabelSet};

    fn info(name: &str, labels: &[(&str, &str)], head: i64) -> JournalInfo {
        let spec = JournalSpec {
            name: name.into(),
            labels: LabelSet::from_pairs(labels.iter().copied()),
            ..Default::default()
        };
        JournalInfo { spec, create_revision: 1, mod_revision: 2, write_head: head, route: Default::default() }
    }

    #[test]
    fn tables_align_columns_under_a_header() {
        let got = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["q".into(), "22".into()]]);
        assert_eq!(got, "A    LONGER\nxyz  1\nq    22\n");
    }

    #[test]
    fn journals_render_as_table_json_and_tsv() {
        let mut js = [info("a/b", &[("k", "v")], 42), info("c", &[], 0)];
        let id = |s: &str| crate::journal::ProcessId::new("local", s);
        js[0].route = crate::journal::Route { members: vec![id("b2"), id("b1")], primary: Some(1), endpoints: vec![] };
        assert_eq!(
            render(&js, ListFormat::Table),
            "JOURNAL  LABELS  WRITE HEAD  ROUTE\na/b      k=v     42          local#b1:PRIMARY,local#b2:REPLICA\nc                0           -\n"
        );
        assert_eq!(render(&js, ListFormat::Tsv), "a/b\t42\t2\tk=v\nc\t0\t2\t\n");
        let first: serde_json::Value =
            serde_json::from_str(render(&js, ListFormat::Json).lines().next().unwrap()).unwrap();
        assert_eq!((first["name"].as_str(), first["write_head"].as_i64()), (Some("a/b"), Some(42)));
        assert_eq!(first["labels"], serde_json::json!(["k=v"]));
    }
}
