//! Which stream emits the next chunk: Gazette's interleaving.
//!
//! Mirrors `generate` in `examples/stream-sum/chunker.go`: each step picks uniformly
//! among the open streams plus, while the quota of streams allows, one slot that
//! starts a new stream. So streams overlap at random and their chunks interleave on
//! the partitions. A negative `streams` setting is an unlimited quota (run forever).

use crate::rng::Rng;

/// How many streams may still be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    /// At most this many more.
    Left(u64),
    /// No limit: the worker runs until it fails or is stopped.
    Unlimited,
}

impl Quota {
    /// The quota of the `streams` setting (negative = unlimited).
    pub fn from_setting(streams: i64) -> Self {
        u64::try_from(streams).map_or(Quota::Unlimited, Quota::Left)
    }

    fn can_start(self) -> bool {
        self != Quota::Left(0)
    }

    fn take_one(&mut self) {
        if let Quota::Left(n) = self {
            *n = n.saturating_sub(1);
        }
    }
}

/// The next step of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Emit the next chunk of open stream number `i`.
    Open(usize),
    /// Start a new stream (the quota was already charged) and emit its first chunk.
    New,
    /// No stream is open and the quota is spent: the worker is done.
    Done,
}

/// Picks the next step given `open` open streams; charges the quota on [`Pick::New`].
pub fn pick(open: usize, quota: &mut Quota, rng: &mut Rng) -> Pick {
    let slots = open + usize::from(quota.can_start());
    if slots == 0 {
        return Pick::Done;
    }
    let i = rng.below(slots);
    if i == open {
        quota.take_one();
        Pick::New
    } else {
        Pick::Open(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_stream_counts_are_unlimited() {
        assert_eq!(Quota::from_setting(-1), Quota::Unlimited);
        assert_eq!(Quota::from_setting(0), Quota::Left(0));
        assert_eq!(Quota::from_setting(3), Quota::Left(3));
    }

    #[test]
    fn starts_exactly_the_quota_then_drains_open_streams() {
        let mut rng = Rng::from_seed(11);
        let mut quota = Quota::Left(3);
        assert_eq!(pick(0, &mut quota, &mut rng), Pick::New, "nothing open: must start one");
        assert_eq!(quota, Quota::Left(2));
        let mut quota = Quota::Left(0);
        assert_eq!(pick(0, &mut quota, &mut rng), Pick::Done);
        for _ in 0..50 {
            assert!(matches!(pick(2, &mut quota, &mut rng), Pick::Open(0 | 1)));
        }
    }

    #[test]
    fn streams_interleave_under_a_fixed_seed() {
        // Simulate 3 streams of 4 chunks each and record which stream emitted.
        let mut rng = Rng::from_seed(5);
        let mut quota = Quota::Left(3);
        let mut open: Vec<(usize, u32)> = Vec::new(); // (stream number, chunks left)
        let mut started = 0;
        let mut order = Vec::new();
        loop {
            let i = match pick(open.len(), &mut quota, &mut rng) {
                Pick::Done => break,
                Pick::New => {
                    open.push((started, 4));
                    started += 1;
                    open.len() - 1
                }
                Pick::Open(i) => i,
            };
            order.push(open[i].0);
            open[i].1 -= 1;
            if open[i].1 == 0 {
                open.swap_remove(i);
            }
        }
        assert_eq!(order.len(), 12);
        assert_eq!(started, 3);
        let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(switches > 2, "chunks of different streams interleave: {order:?}");
    }

    #[test]
    fn an_unlimited_quota_keeps_starting_streams() {
        let mut rng = Rng::from_seed(9);
        let mut quota = Quota::Unlimited;
        let news = (0..1000).filter(|_| pick(4, &mut quota, &mut rng) == Pick::New).count();
        assert!(news > 100, "about 1 in 5 picks starts a stream: {news}");
        assert_eq!(quota, Quota::Unlimited);
    }
}
