use super::*;

/// Decodes values as UTF-8 numbers; anything else is an error.
fn number(_key: &str, value: &[u8]) -> Result<u32, String> {
    std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).ok_or_else(|| format!("{value:?} is not a number"))
}

fn put(key: &str, value: &str, create: i64, modified: i64, version: i64) -> Event {
    Event::Put(raw(key, value, create, modified, version))
}

fn raw(key: &str, value: &str, create: i64, modified: i64, version: i64) -> RawKeyValue {
    RawKeyValue { key: key.into(), value: value.into(), create_revision: create, mod_revision: modified, version, lease: 0 }
}

fn del(key: &str, revision: i64) -> Event {
    Event::Delete { key: key.into(), mod_revision: revision }
}

fn contents(s: &Snapshot<u32>) -> Vec<(String, u32)> {
    s.iter().map(|(k, kv)| (k.to_string(), kv.decoded)).collect()
}

#[test]
fn loading_decodes_every_key_and_skips_those_that_do_not_decode() {
    let s = Snapshot::load(9, vec![raw("/r/a", "1", 2, 2, 1), raw("/r/b", "oops", 3, 3, 1), raw("/r/c", "3", 4, 5, 2)], &number);
    assert_eq!(s.revision(), 9, "a loaded snapshot is at the revision it was read at");
    assert_eq!(contents(&s), [("/r/a".into(), 1), ("/r/c".into(), 3)]);
    let c = s.get("/r/c").unwrap();
    assert_eq!((c.create_revision, c.mod_revision, c.version, c.value.as_slice()), (4, 5, 2, b"3".as_slice()));
}

#[test]
fn events_put_and_delete_keys_and_move_the_revision_to_the_last_event() {
    let s = Snapshot::load(5, vec![raw("/r/a", "1", 2, 2, 1), raw("/r/b", "2", 3, 3, 1)], &number);
    let next = s.apply(&[put("/r/a", "10", 2, 6, 2), del("/r/b", 6), put("/r/c", "3", 7, 7, 1)], &number).unwrap();
    assert_eq!(next.revision(), 7);
    assert_eq!(contents(&next), [("/r/a".into(), 10), ("/r/c".into(), 3)]);
    assert_eq!(contents(&s), [("/r/a".into(), 1), ("/r/b".into(), 2)], "the old snapshot is unchanged");
}

#[test]
fn a_bad_new_value_keeps_the_last_good_one_and_a_bad_new_key_stays_out() {
    let s = Snapshot::load(5, vec![raw("/r/a", "1", 2, 2, 1)], &number);
    let next = s.apply(&[put("/r/a", "garbage", 2, 6, 2), put("/r/new", "garbage", 7, 7, 1)], &number).unwrap();
    assert_eq!(next.revision(), 7, "the revision moves on even when nothing decoded");
    assert_eq!(contents(&next), [("/r/a".into(), 1)]);
    let fixed = next.apply(&[put("/r/new", "4", 7, 8, 2), del("/r/never-held", 9)], &number).unwrap();
    assert_eq!(contents(&fixed), [("/r/a".into(), 1), ("/r/new".into(), 4)], "a later good value is applied");
    assert_eq!(fixed.revision(), 9);
}

#[test]
fn replayed_events_are_ignored() {
    let s = Snapshot::load(7, vec![raw("/r/a", "1", 2, 7, 3)], &number);
    assert!(s.apply(&[put("/r/a", "0", 2, 6, 2), del("/r/a", 7)], &number).is_none(), "nothing newer than 7");
    let next = s.apply(&[del("/r/a", 7), put("/r/b", "2", 8, 8, 1)], &number).unwrap();
    assert_eq!(contents(&next), [("/r/a".into(), 1), ("/r/b".into(), 2)], "only the event after 7 applies");
}

#[test]
fn prefixed_lists_exactly_the_keys_under_a_prefix() {
    let keys = ["/r/assign/x#z#a#0", "/r/items/x", "/r/items/x/y", "/r/itemsz", "/r/members/z#a"];
    let s = Snapshot::load(1, keys.iter().map(|k| raw(k, "1", 1, 1, 1)).collect(), &number);
    let items: Vec<&str> = s.prefixed("/r/items/").map(|(k, _)| k).collect();
    assert_eq!(items, ["/r/items/x", "/r/items/x/y"]);
    assert_eq!(s.prefixed("/q/").count(), 0);
    assert_eq!(s.len(), 5);
}
