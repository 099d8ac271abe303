//! Parsing gazctl's label selector syntax (`--selector`).
//!
//! Mirrors `ParseLabelSelector` of `broker/protocol/label_extensions.go`:
//! comma-separated terms `a=b`, `a!=b`, `a` (has a), `!a` (lacks a),
//! `a in (x, y)`, `a notin (x, y)`, and `a:prefix=b` / `a:prefix!=b` for prefix
//! matches. The result is validated like any selector.

use super::error::JournalError;
use super::labels::{Label, LabelSelector, LabelSet};

/// Parses a selector string; the empty string selects everything.
///
/// # Errors
/// `Invalid`, naming the offending term.
pub fn parse_selector(s: &str) -> Result<LabelSelector, JournalError> {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for term in split_terms(s)? {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let bad = |why: &str| JournalError::invalid(format!("selector term {term:?}: {why}"));
        if let Some((name, rest)) = split_keyword(term, " notin ").or_else(|| split_keyword(term, " in ")) {
            let negate = term.contains(" notin ");
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad("expected a parenthesized value list"))?;
            let target = if negate { &mut exclude } else { &mut include };
            for v in inner.split(',') {
                target.push(Label::new(name.trim(), v.trim()));
            }
        } else if let Some((name, value)) = term.split_once("!=") {
            exclude.push(label(name, value));
        } else if let Some((name, value)) = term.split_once('=') {
            include.push(label(name, value));
        } else if let Some(name) = term.strip_prefix('!') {
            exclude.push(Label::new(name.trim(), ""));
        } else if term.contains(char::is_whitespace) {
            return Err(bad("expected name, !name, name=value, name!=value, name in (..) or name notin (..)"));
        } else {
            include.push(Label::new(term, ""));
        }
    }
    let sel = LabelSelector { include: LabelSet::from_labels(include), exclude: LabelSet::from_labels(exclude) };
    sel.validate().map_err(|e| JournalError::invalid(format!("selector {s:?}: {e}")))?;
    Ok(sel)
}

/// A label from `name[:prefix]` and a value.
fn label(name: &str, value: &str) -> Label {
    let name = name.trim();
    match name.strip_suffix(":prefix") {
        Some(n) => Label { name: n.to_string(), value: value.trim().to_string(), prefix: true },
        None => Label::new(name, value.trim()),
    }
}

fn split_keyword<'a>(term: &'a str, kw: &str) -> Option<(&'a str, &'a str)> {
    term.split_once(kw)
}

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Result<Vec<&str>, JournalError> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(JournalError::invalid(format!("selector {s:?}: unbalanced parentheses")));
        }
    }
    if depth != 0 {
        return Err(JournalError::invalid(format!("selector {s:?}: unbalanced parentheses")));
    }
    out.push(&s[start..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: &[(&str, &str, bool)]) -> LabelSet {
        LabelSet::from_labels(labels.iter().map(|(n, v, p)| Label { name: n.to_string(), value: v.to_string(), prefix: *p }))
    }

    #[test]
    fn parses_every_gazctl_form() {
        let sel = parse_selector("app.gazette.dev/message-type=stream_sum.Chunk, !skip, env in (a, b), xx notin (c), has, tt!=u, name:prefix=examples/").unwrap();
        assert_eq!(
            sel.include,
            set(&[
                ("app.gazette.dev/message-type", "stream_sum.Chunk", false),
                ("env", "a", false),
                ("env", "b", false),
                ("has", "", false),
                ("name", "examples/", true),
            ])
        );
        assert_eq!(sel.exclude, set(&[("skip", "", false), ("tt", "u", false), ("xx", "c", false)]));
        assert!(parse_selector("").unwrap().is_empty());
    }

    #[test]
    fn malformed_selectors_are_refused_with_the_term() {
        for bad in ["a in x", "a in (b", "x=y)", "bad name", "a=b c", "x=y"] {
            let r = parse_selector(bad);
            if bad == "x=y" {
                assert!(r.is_err(), "single-char label names are too short");
            } else {
                let e = r.expect_err(bad).to_string();
                assert!(e.contains("selector"), "{bad}: {e}");
            }
        }
    }
}
