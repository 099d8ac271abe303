//! Reads the YAML (or JSON) of spec files: `journals apply` and `shards apply`.
//!
//! gazctl's files are YAML in block and flow style alike (Gazette's own
//! `generate-shards.sh` writes `sources: [journal: examples/…]`), so they are read by
//! a full YAML parser (`serde_yaml_ng`, libyaml's grammar) into a `serde_json::Value`,
//! and specs then deserialize exactly as their JSON form does.

use serde_json::Value;

/// Parses a YAML document (JSON is YAML) into a value; an empty document is null.
///
/// # Errors
/// A message with the line and column that could not be read.
pub fn parse(src: &str) -> Result<Value, String> {
    if src.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(Value::Null);
    }
    // Through YAML's own value first: it refuses duplicate keys, which a JSON value
    // would silently resolve to the last one.
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(src).map_err(|e| e.to_string())?;
    serde_json::to_value(yaml).map_err(|e| format!("not representable as JSON (keys must be strings): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_block_and_flow_yaml_of_spec_files() {
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
        // As Gazette's generate-shards.sh writes them.
        let shards = "shards:\n- id: chunks-part-000\n  sources: [journal: examples/stream-sum/chunks/part-000]\n  fragment: {compression_codec: SNAPPY}\n";
        assert_eq!(
            parse(shards).unwrap(),
            json!({"shards": [{"id": "chunks-part-000", "sources": [{"journal": "examples/stream-sum/chunks/part-000"}],
                               "fragment": {"compression_codec": "SNAPPY"}}]})
        );
        assert_eq!(parse("# nothing\n\n").unwrap(), Value::Null);
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_line() {
        for (src, want) in [("a: 1\n  b: 2", "line 2"), ("a: 1\na: 2", "duplicate"), ("- x\nnot a pair: [", "line 2"), ("a: 'open", "line 1")] {
            let e = parse(src).expect_err(src);
            assert!(e.contains(want), "{src:?}: {e}");
        }
    }
}
