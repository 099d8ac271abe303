//! The spool rules of `spool.rs`, case by case.

use super::*;

#[test]
fn decisions_follow_the_spool_rules() {
    let mut repl = ReplState { spool_begin: 100, hasher: Sha1::new(), gate: 0 };
    repl.extend(b"abc");
    let regs = LabelSet::default();
    let spool = repl.spool(103, &regs);
    let sum_of = |parts: &[&[u8]]| -> [u8; 20] {
        let mut h = Sha1::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    };
    let cases: Vec<(&str, Spool, &[u8], Step)> = vec![
        ("the spool itself", spool.clone(), b"", Step::Ack),
        ("content continuing the spool", Spool { begin: 100, end: 105, sum: sum_of(&[b"abc", b"de"]), registers: regs.clone() }, b"de", Step::Extend { roll: false }),
        ("content in a new spool at the end", Spool { begin: 103, end: 105, sum: sum_of(&[b"de"]), registers: regs.clone() }, b"de", Step::Extend { roll: true }),
        ("content with a wrong sum", Spool { begin: 100, end: 105, sum: sum_of(&[b"de"]), registers: regs.clone() }, b"de", Step::Mismatch),
        ("content not at the end", Spool { begin: 100, end: 106, sum: sum_of(&[b"abc", b"de"]), registers: regs.clone() }, b"de", Step::Mismatch),
        ("a roll at the end", Spool::empty(103, regs.clone()), b"", Step::Roll),
        ("a roll below the end", Spool::empty(50, regs.clone()), b"", Step::Reset),
        ("a roll past the end", Spool::empty(200, regs.clone()), b"", Step::Reset),
        ("another spool within the bytes held", Spool { begin: 90, end: 101, sum: [1; 20], registers: regs.clone() }, b"", Step::Verify),
        ("another spool past the bytes held", Spool { begin: 90, end: 104, sum: [1; 20], registers: regs.clone() }, b"", Step::Mismatch),
        ("the spool with other registers", Spool { registers: LabelSet::from_pairs([("a", "b")]), ..spool.clone() }, b"", Step::Verify),
    ];
    for (name, p, content, want) in cases {
        assert_eq!(repl.decide(103, &regs, &p, content), want, "{name}");
    }
}
