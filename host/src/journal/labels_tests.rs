use super::*;

fn sel(include: &[(&str, &str)], exclude: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { include: LabelSet::from_pairs(include.iter().copied()), exclude: LabelSet::from_pairs(exclude.iter().copied()) }
}

#[test]
fn selectors_match_like_gazettes() {
    let set = LabelSet::from_pairs([("app.gazette.dev/message-type", "stream_sum.Chunk"), ("env", "prod"), ("env", "test")]);
    let cases: &[(LabelSelector, bool)] = &[
        (sel(&[], &[]), true),
        (sel(&[("env", "prod")], &[]), true),
        (sel(&[("env", "")], &[]), true),
        (sel(&[("env", "dev")], &[]), false),
        (sel(&[("env", "dev"), ("env", "prod")], &[]), true), // `env in (dev, prod)`
        (sel(&[("env", "prod"), ("app.gazette.dev/message-type", "stream_sum.Sum")], &[]), false),
        (sel(&[], &[("env", "test")]), false),
        (sel(&[], &[("env", "")]), false),
        (sel(&[], &[("other", "")]), true),
        (sel(&[("missing", "")], &[]), false),
    ];
    for (i, (s, want)) in cases.iter().enumerate() {
        assert_eq!(s.matches(&set), *want, "case {i}: {s:?}");
    }
    let prefix = LabelSelector::including(LabelSet(vec![Label { name: "env".into(), value: "pr".into(), prefix: true }]));
    assert!(prefix.matches(&set));
}

#[test]
fn union_replaces_same_named_values_and_subtract_removes() {
    let regs = LabelSet::from_pairs([("author", "a"), ("keep", "1")]);
    let u = regs.union(&LabelSet::from_pairs([("author", "b")]));
    assert_eq!(u, LabelSet::from_pairs([("author", "b"), ("keep", "1")]));
    assert_eq!(u.subtract(&LabelSet::from_pairs([("author", "")])), LabelSet::from_pairs([("keep", "1")]));
    assert_eq!(u.subtract(&LabelSet::from_pairs([("keep", "2")])), u);
}

#[test]
fn label_sets_are_validated() {
    assert!(LabelSet::from_pairs([("ok-name", "v")]).validate(false).is_ok());
    let bad: &[LabelSet] = &[
        LabelSet(vec![Label::new("b", "1")]),                                  // name too short
        LabelSet(vec![Label::new("n".repeat(65), "1")]),                      // name too long
        LabelSet(vec![Label::new("has space", "1")]),                          // bad name char
        LabelSet(vec![Label::new("name", "a b")]),                             // bad value char
        LabelSet(vec![Label::new("name", "v".repeat(1025))]),                 // value too long
        LabelSet(vec![Label::new("zz", "1"), Label::new("aa", "1")]),          // unsorted
        LabelSet(vec![Label::new("aa", "1"), Label::new("aa", "1")]),          // duplicate
        LabelSet(vec![Label::new("aa", ""), Label::new("aa", "1")]),           // empty and non-empty
        LabelSet(vec![Label { name: "aa".into(), value: "x".into(), prefix: true }]), // prefix outside a selector
    ];
    for set in bad {
        assert!(set.validate(false).is_err(), "{set:?}");
    }
    assert!(LabelSet::from_pairs([("nn", &*"v".repeat(1024))]).validate(false).is_ok());
    assert!(LabelSet::from_pairs([(&*"n".repeat(64), "")]).validate(false).is_ok());
}
