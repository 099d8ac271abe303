//! A small YAML reader for `journals apply` files: block mappings and sequences,
//! plain and quoted scalars, comments, and JSON-style flow values.
//!
//! gazctl reads YAML journal specs; no YAML crate is available to this workspace,
//! and spec files need only this subset (anchors, multi-line strings and multiple
//! documents are refused or unsupported). The result is a `serde_json::Value`, so
//! specs deserialize exactly as their JSON form does, and JSON files (which are YAML)
//! are read by `serde_json` directly.

use serde_json::{Map, Value};

/// One meaningful line: indentation and text without comment.
struct Line<'a> {
    /// 1-based line number, for errors.
    no: usize,
    /// Leading spaces.
    indent: usize,
    /// Content after the indentation.
    text: &'a str,
}

/// Parses a YAML document (or JSON) into a value.
///
/// # Errors
/// A message naming the line that could not be read.
pub fn parse(src: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(src) {
        return Ok(v);
    }
    let mut lines = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        if raw.contains('\t') && raw.trim_start().len() != raw.trim_start_matches('\t').len() {
            return Err(format!("line {}: tabs may not indent YAML", i + 1));
        }
        let text = strip_comment(raw).trim_end();
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed == "---" {
            continue;
        }
        lines.push(Line { no: i + 1, indent: text.len() - trimmed.len(), text: trimmed });
    }
    if lines.is_empty() {
        return Ok(Value::Null);
    }
    let mut pos = 0;
    let indent = lines[0].indent;
    let v = block(&mut lines, &mut pos, indent)?;
    match lines.get(pos) {
        Some(l) => Err(format!("line {}: unexpected indentation", l.no)),
        None => Ok(v),
    }
}

/// Removes a ` #` comment outside quotes.
fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || s[..i].ends_with(' ')) => return &s[..i],
            _ => {}
        }
    }
    s
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// The block (mapping or sequence) starting at `pos`, whose lines are at `indent`.
fn block(lines: &mut Vec<Line<'_>>, pos: &mut usize, indent: usize) -> Result<Value, String> {
    if is_seq_item(lines[*pos].text) {
        sequence(lines, pos, indent)
    } else {
        mapping(lines, pos, indent)
    }
}

fn sequence(lines: &mut Vec<Line<'_>>, pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut out = Vec::new();
    while let Some(line) = lines.get(*pos) {
        if line.indent != indent || !is_seq_item(line.text) {
            break;
        }
        let rest = line.text[1..].trim_start();
        if rest.is_empty() {
            *pos += 1;
            out.push(nested(lines, pos, indent)?);
        } else if !rest.starts_with(['{', '[']) && key_value(rest).is_some() {
            // "- key: value" opens a mapping indented to the text after "- ".
            let inner = indent + (line.text.len() - rest.len());
            lines[*pos] = Line { no: line.no, indent: inner, text: rest };
            out.push(mapping(lines, pos, inner)?);
        } else {
            out.push(scalar(rest, line.no)?);
            *pos += 1;
        }
    }
    Ok(Value::Array(out))
}

fn mapping(lines: &mut Vec<Line<'_>>, pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut out = Map::new();
    while let Some(line) = lines.get(*pos) {
        if line.indent != indent || is_seq_item(line.text) {
            break;
        }
        let no = line.no;
        let (key, value) = key_value(line.text).ok_or_else(|| format!("line {no}: expected `key: value`"))?;
        let key = match scalar(key, no)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        *pos += 1;
        let v = if value.is_empty() {
            // A nested block: deeper, or a sequence at the same indentation.
            match lines.get(*pos) {
                Some(next) if next.indent == indent && is_seq_item(next.text) => sequence(lines, pos, indent)?,
                _ => nested(lines, pos, indent)?,
            }
        } else {
            scalar(value, no)?
        };
        if out.insert(key.clone(), v).is_some() {
            return Err(format!("line {no}: duplicate key {key:?}"));
        }
    }
    Ok(Value::Object(out))
}

/// The block after a `key:` or `-` line, if more indented; else null.
fn nested(lines: &mut Vec<Line<'_>>, pos: &mut usize, parent: usize) -> Result<Value, String> {
    match lines.get(*pos) {
        Some(next) if next.indent > parent => {
            let indent = next.indent;
            block(lines, pos, indent)
        }
        _ => Ok(Value::Null),
    }
}

/// Splits `key: value` / `key:` (outside quotes).
fn key_value(text: &str) -> Option<(&str, &str)> {
    let (mut single, mut double) = (false, false);
    for (i, c) in text.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ':' if !single && !double && (i + 1 == text.len() || text[i + 1..].starts_with(' ')) => {
                return Some((text[..i].trim(), text[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// A scalar or flow value.
fn scalar(s: &str, no: usize) -> Result<Value, String> {
    let s = s.trim();
    if s.starts_with(['&', '*', '|', '>', '!']) {
        return Err(format!("line {no}: anchors, tags and block scalars are not supported"));
    }
    if s.starts_with(['"', '[', '{']) {
        return serde_json::from_str(s).map_err(|e| format!("line {no}: {e}"));
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').ok_or_else(|| format!("line {no}: unterminated quote"))?;
        return Ok(Value::String(inner.replace("''", "'")));
    }
    Ok(match s {
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "null" | "Null" | "NULL" | "~" => Value::Null,
        _ => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(i), _) => Value::from(i),
            (_, Ok(f)) if f.is_finite() => Value::from(f),
            _ => Value::String(s.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_block_yaml_of_spec_files() {
        let src = r#"
# stream-sum extras
- name: tests/a        # a comment
  replication: 1
  labels:
  - name: content-type
    value: application/x-ndjson
  - {"name": "app.gazette.dev/tag", "value": "x#y"}
  fragment:
    length: 1048576
    compression_codec: SNAPPY
    refresh_interval: 30s
    stores: []
- name: 'tests/b'
  delete: true
"#;
        let v = parse(src).unwrap();
        assert_eq!(
            v,
            json!([
                {"name": "tests/a", "replication": 1,
                 "labels": [{"name": "content-type", "value": "application/x-ndjson"}, {"name": "app.gazette.dev/tag", "value": "x#y"}],
                 "fragment": {"length": 1048576, "compression_codec": "SNAPPY", "refresh_interval": "30s", "stores": []}},
                {"name": "tests/b", "delete": true}
            ])
        );
        assert_eq!(parse("[1, 2]").unwrap(), json!([1, 2]), "JSON is YAML");
        assert_eq!(parse("a:\n  - x\n  - 'it''s'\nb: -1.5\nc: ~").unwrap(), json!({"a": ["x", "it's"], "b": -1.5, "c": null}));
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_line() {
        for (src, want) in [
            ("a: 1\n  b: 2", "line 2"),
            ("a: 1\na: 2", "duplicate key"),
            ("- x\nnot a pair", "line 2"),
            ("a: &anchor 1", "anchors"),
            ("a: 'open", "unterminated"),
            ("a: \"bad\\q\"", "line 1"),
        ] {
            let e = parse(src).expect_err(src);
            assert!(e.contains(want), "{src:?}: {e}");
        }
    }
}
