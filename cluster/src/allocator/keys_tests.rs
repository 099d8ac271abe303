use super::*;

const ROOT: &str = "/gazette/cluster";

#[test]
fn prefixes_and_separator_are_gazettes() {
    assert_eq!(MEMBERS_PREFIX, "/members/");
    assert_eq!(ITEMS_PREFIX, "/items/");
    assert_eq!(ASSIGNMENTS_PREFIX, "/assign/");
    assert_eq!(SEPARATOR, '#');
    assert_eq!(SEPARATOR as u32, 35, "'#' is the lowest visible character a shell leaves alone");
}

#[test]
fn member_keys_format_and_parse_back() {
    let cases = [
        (MemberId::new("us-east-1a", "broker-0"), "/gazette/cluster/members/us-east-1a#broker-0"),
        (MemberId::new("region/zone", "host/pod-7"), "/gazette/cluster/members/region/zone#host/pod-7"),
        (MemberId::new("zône", "müller"), "/gazette/cluster/members/zône#müller"),
    ];
    for (member, key) in cases {
        assert_eq!(member_key(ROOT, &member).unwrap(), key);
        assert_eq!(parse_member_key(ROOT, key).unwrap(), member, "{key}");
    }
}

#[test]
fn item_keys_format_and_parse_back_with_slashes_in_names() {
    let key = item_key(ROOT, "examples/stream-sum/chunks/part-000").unwrap();
    assert_eq!(key, "/gazette/cluster/items/examples/stream-sum/chunks/part-000");
    assert_eq!(parse_item_key(ROOT, &key).unwrap(), "examples/stream-sum/chunks/part-000");
    assert_eq!(item_assignments_prefix(ROOT, "a/b").unwrap(), "/gazette/cluster/assign/a/b#");
}

#[test]
fn assignment_keys_format_and_parse_back() {
    let cases = [
        (Assignment::new("item-1", &MemberId::new("zone-a", "member-A1"), 0, false), "/gazette/cluster/assign/item-1#zone-a#member-A1#0"),
        (Assignment::new("examples/sums/part-001", &MemberId::new("z/1", "m/2"), 12, false), "/gazette/cluster/assign/examples/sums/part-001#z/1#m/2#12"),
        (Assignment::new("i", &MemberId::new("z", "m"), u32::MAX, false), "/gazette/cluster/assign/i#z#m#4294967295"),
    ];
    for (asn, key) in cases {
        assert_eq!(assignment_key(ROOT, &asn).unwrap(), key);
        assert_eq!(parse_assignment_key(ROOT, key).unwrap(), asn, "{key}");
        assert!(key.starts_with(&item_assignments_prefix(ROOT, &asn.item_id).unwrap()));
    }
}

#[test]
fn parsed_assignments_are_not_consistent_until_the_value_says_so() {
    let asn = parse_assignment_key(ROOT, "/gazette/cluster/assign/i#z#m#3").unwrap();
    assert!(!asn.consistent);
    assert_eq!(asn.slot, 3);
}

#[test]
fn an_empty_root_is_allowed() {
    assert_eq!(member_key("", &MemberId::new("z", "m")).unwrap(), "/members/z#m");
    assert_eq!(parse_member_key("", "/members/z#m").unwrap(), MemberId::new("z", "m"));
}

#[test]
fn malformed_member_keys_are_rejected_with_the_reason() {
    let cases: [(&str, fn(&KeyError) -> bool); 7] = [
        ("/other/members/z#m", |e| matches!(e, KeyError::WrongPrefix { .. })),
        ("/gazette/cluster/items/z#m", |e| matches!(e, KeyError::WrongPrefix { .. })),
        ("/gazette/cluster/members/zm", |e| matches!(e, KeyError::WrongParts { expected: 2, found: 1, .. })),
        ("/gazette/cluster/members/z#m#x", |e| matches!(e, KeyError::WrongParts { expected: 2, found: 3, .. })),
        ("/gazette/cluster/members/#m", |e| matches!(e, KeyError::Empty { what: "zone" })),
        ("/gazette/cluster/members/z#", |e| matches!(e, KeyError::Empty { what: "member suffix" })),
        ("/gazette/cluster/members/z#m x", |e| matches!(e, KeyError::ReservedChar { ch: ' ', index: 1, .. })),
    ];
    for (key, expected) in cases {
        let err = parse_member_key(ROOT, key).unwrap_err();
        assert!(expected(&err), "{key}: {err}");
    }
}

#[test]
fn malformed_assignment_keys_are_rejected_with_the_reason() {
    let cases: [(&str, fn(&KeyError) -> bool); 9] = [
        ("/gazette/cluster/members/i#z#m#0", |e| matches!(e, KeyError::WrongPrefix { .. })),
        ("/gazette/cluster/assign/i#z#m", |e| matches!(e, KeyError::WrongParts { expected: 4, found: 3, .. })),
        ("/gazette/cluster/assign/i#z#m#0#1", |e| matches!(e, KeyError::WrongParts { expected: 4, found: 5, .. })),
        ("/gazette/cluster/assign/#z#m#0", |e| matches!(e, KeyError::Empty { what: "item id" })),
        ("/gazette/cluster/assign/i#z#m#", |e| matches!(e, KeyError::BadSlot { .. })),
        ("/gazette/cluster/assign/i#z#m#-1", |e| matches!(e, KeyError::BadSlot { .. })),
        ("/gazette/cluster/assign/i#z#m#+1", |e| matches!(e, KeyError::BadSlot { .. })),
        ("/gazette/cluster/assign/i#z#m#01", |e| matches!(e, KeyError::BadSlot { .. })),
        ("/gazette/cluster/assign/i#z#m#4294967296", |e| matches!(e, KeyError::BadSlot { .. })),
    ];
    for (key, expected) in cases {
        let err = parse_assignment_key(ROOT, key).unwrap_err();
        assert!(expected(&err), "{key}: {err}");
    }
}

#[test]
fn names_with_reserved_characters_cannot_be_formatted() {
    for bad in ["a b", "a!b", "a\"b", "a#b", "tab\t", "nl\n", "\u{0}"] {
        let err = item_key(ROOT, bad).unwrap_err();
        assert!(matches!(err, KeyError::ReservedChar { .. }), "{bad:?}: {err}");
        assert!(member_key(ROOT, &MemberId::new(bad, "m")).is_err(), "{bad:?}");
        assert!(member_key(ROOT, &MemberId::new("z", bad)).is_err(), "{bad:?}");
        assert!(assignment_key(ROOT, &Assignment::new(bad, &MemberId::new("z", "m"), 0, false)).is_err());
    }
    // '$', the first character above '#', is allowed.
    validate_name("item id", "$").unwrap();
}

#[test]
fn errors_say_which_key_and_part_is_wrong() {
    let err = parse_assignment_key(ROOT, "/gazette/cluster/assign/i#z#m#01").unwrap_err();
    assert_eq!(err.to_string(), "key \"/gazette/cluster/assign/i#z#m#01\": slot \"01\" is not a canonical decimal number");
    let err = parse_member_key(ROOT, "/gazette/cluster/members/zm").unwrap_err();
    assert_eq!(err.to_string(), "key \"/gazette/cluster/members/zm\": expected 2 '#'-separated parts (zone#suffix), found 1");
    let err = validate_name("zone", "a b").unwrap_err();
    assert_eq!(err.to_string(), "zone \"a b\": character ' ' at byte 1 is reserved (nothing at or below '#' is allowed)");
}
