//! The publisher's pure core: stamps UUIDs, frames messages into per-journal append
//! buffers, and builds the ACK intents that commit a transaction's messages.
//!
//! Mirrors Gazette's `message/publisher.go` (`PublishCommitted`,
//! `PublishUncommitted`, `BuildAckIntents`). Gazette stamps and marshals while holding
//! the journal's append lock, so UUID order equals byte order in the journal; here
//! the same holds because stamping and buffering are one `&mut self` step and each
//! journal has one buffer, drained in order.
//!
//! The async shell is thin: it calls [`Publisher::take_appends`] and appends each
//! journal's bytes through a journal client, one append at a time per journal (so
//! publish order is kept). A consumer transaction additionally (1) makes all drained
//! appends durable before committing its checkpoint, which stores the intents from
//! [`Publisher::build_ack_intents`], (2) appends those intents only after the commit,
//! and (3) appends them **before** any later bytes to the same journals.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;

use super::clock::AtomicClock;
use super::framing::{frame_ack, frame_message, FrameError};
use super::uuid::{build_uuid, Flags, ProducerId};

/// Framed bytes waiting to be appended to one journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAppend {
    /// The journal to append to.
    pub journal: Arc<str>,
    /// Frames in publish order.
    pub bytes: Vec<u8>,
    /// How many messages `bytes` holds.
    pub messages: usize,
}

/// The framed acknowledgement that commits a producer's messages in one journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckIntent {
    /// The journal the acknowledgement must be appended to.
    pub journal: Arc<str>,
    /// `{"UUID":"…"}\n` with an ACK_TXN UUID.
    pub intent: Vec<u8>,
}

/// Publishes messages of one producer.
#[derive(Debug)]
pub struct Publisher {
    /// This publisher's producer id (fresh for every publisher).
    producer: ProducerId,
    /// The producer clock, ticked once per message and per ACK.
    clock: Arc<AtomicClock>,
    /// Whether to raise `clock` to wall time on every publish (an owned clock), or
    /// leave that to the caller (a shard updates it once per transaction).
    update_clock: bool,
    /// Append buffers, in order of each journal's first publish since the last drain.
    buffers: Vec<PendingAppend>,
    /// Index of each journal's buffer in `buffers`.
    buffer_index: HashMap<Arc<str>, usize>,
    /// Journals with uncommitted publishes since the last `build_ack_intents`, in
    /// first-publish order.
    ack_journals: Vec<Arc<str>>,
}

impl Publisher {
    /// A publisher with a fresh random producer id over a shared `clock` that the
    /// caller keeps current.
    pub fn new(clock: Arc<AtomicClock>) -> Publisher {
        Publisher::with_producer(ProducerId::random(), clock, false)
    }

    /// A publisher with a fresh random producer id and its own clock, raised to wall
    /// time on every publish.
    pub fn with_own_clock() -> Publisher {
        Publisher::with_producer(ProducerId::random(), Arc::new(AtomicClock::now()), true)
    }

    /// A publisher with a given producer id (tests, deterministic tools).
    pub fn with_producer(producer: ProducerId, clock: Arc<AtomicClock>, update_clock: bool) -> Publisher {
        Publisher {
            producer,
            clock,
            update_clock,
            buffers: Vec::new(),
            buffer_index: HashMap::new(),
            ack_journals: Vec::new(),
        }
    }

    /// This publisher's producer id.
    pub fn producer(&self) -> ProducerId {
        self.producer
    }

    /// The producer clock.
    pub fn clock(&self) -> &Arc<AtomicClock> {
        &self.clock
    }

    /// Publishes a self-committing (OUTSIDE_TXN) message: readers see it as soon as
    /// its append commits. Returns its UUID.
    ///
    /// # Errors
    /// [`FrameError`] if `message` is not one JSON object; nothing is buffered.
    pub fn publish_committed(&mut self, journal: &str, message: &[u8]) -> Result<Uuid, FrameError> {
        self.publish(journal, message, Flags::OUTSIDE_TXN)
    }

    /// Publishes a message of the current transaction (CONTINUE_TXN): readers see it
    /// only once an ACK built by [`build_ack_intents`](Self::build_ack_intents) is
    /// appended after it. Returns its UUID.
    ///
    /// # Errors
    /// [`FrameError`] if `message` is not one JSON object; nothing is buffered.
    pub fn publish_uncommitted(&mut self, journal: &str, message: &[u8]) -> Result<Uuid, FrameError> {
        let uuid = self.publish(journal, message, Flags::CONTINUE_TXN)?;
        if !self.ack_journals.iter().any(|j| &**j == journal) {
            self.ack_journals.push(self.buffers[self.buffer_index[journal]].journal.clone());
        }
        Ok(uuid)
    }

    fn publish(&mut self, journal: &str, message: &[u8], flags: Flags) -> Result<Uuid, FrameError> {
        if self.update_clock {
            self.clock.update(SystemTime::now());
        }
        let uuid = build_uuid(self.producer, self.clock.tick(), flags);
        let index = match self.buffer_index.get(journal) {
            Some(&i) => i,
            None => {
                let journal: Arc<str> = journal.into();
                self.buffers.push(PendingAppend { journal: journal.clone(), bytes: Vec::new(), messages: 0 });
                self.buffer_index.insert(journal, self.buffers.len() - 1);
                self.buffers.len() - 1
            }
        };
        let buffer = &mut self.buffers[index];
        frame_message(message, &uuid, &mut buffer.bytes)?;
        buffer.messages += 1;
        Ok(uuid)
    }

    /// The ACK intents of the current transaction: one per journal that received
    /// uncommitted publishes since the last call, in first-publish order, each with a
    /// fresh ACK_TXN clock above every message published before. Clears that set.
    pub fn build_ack_intents(&mut self) -> Vec<AckIntent> {
        std::mem::take(&mut self.ack_journals)
            .into_iter()
            .map(|journal| {
                let uuid = build_uuid(self.producer, self.clock.tick(), Flags::ACK_TXN);
                AckIntent { journal, intent: frame_ack(&uuid) }
            })
            .collect()
    }

    /// Drains every non-empty append buffer, journals in first-publish order.
    pub fn take_appends(&mut self) -> Vec<PendingAppend> {
        self.buffer_index.clear();
        std::mem::take(&mut self.buffers).into_iter().filter(|b| b.messages > 0).collect()
    }

    /// Bytes buffered and not yet drained.
    pub fn buffered_bytes(&self) -> usize {
        self.buffers.iter().map(|b| b.bytes.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::clock::{Clock, TICK};
    use crate::message::decode::extract_uuid;
    use crate::message::uuid::{clock_of, flags_of, producer_of};

    const P: ProducerId = ProducerId([0x11, 2, 3, 4, 5, 6]);

    fn publisher() -> Publisher {
        Publisher::with_producer(P, Arc::new(AtomicClock::new(Clock(1000))), false)
    }

    fn uuids_of(bytes: &[u8]) -> Vec<Uuid> {
        bytes.split_inclusive(|&b| b == b'\n').map(|l| extract_uuid(l).unwrap()).collect()
    }

    #[test]
    fn publishes_are_framed_into_per_journal_buffers_in_publish_order() {
        let mut p = publisher();
        let u1 = p.publish_committed("j/b", br#"{"n":1}"#).unwrap();
        let u2 = p.publish_committed("j/a", br#"{"n":2}"#).unwrap();
        let u3 = p.publish_committed("j/b", br#"{"n":3}"#).unwrap();
        let appends = p.take_appends();
        assert_eq!(appends.iter().map(|a| (&*a.journal, a.messages)).collect::<Vec<_>>(), vec![("j/b", 2), ("j/a", 1)]);
        let want_b = format!("{{\"UUID\":\"{u1}\",\"n\":1}}\n{{\"UUID\":\"{u3}\",\"n\":3}}\n");
        assert_eq!(String::from_utf8(appends[0].bytes.clone()).unwrap(), want_b);
        assert_eq!(uuids_of(&appends[1].bytes), vec![u2]);
        for (u, clock) in [(u1, 1160), (u2, 1320), (u3, 1480)] {
            assert_eq!((producer_of(&u), clock_of(&u), flags_of(&u)), (P, Clock(clock), Flags::OUTSIDE_TXN));
        }
        assert!(p.take_appends().is_empty());
        assert_eq!(p.buffered_bytes(), 0);
    }

    #[test]
    fn ack_intents_cover_uncommitted_journals_in_first_publish_order_above_every_clock() {
        let mut p = publisher();
        p.publish_uncommitted("sums/b", b"{}").unwrap();
        p.publish_committed("chunks", b"{}").unwrap();
        p.publish_uncommitted("sums/a", b"{}").unwrap();
        let last = p.publish_uncommitted("sums/b", b"{}").unwrap();
        assert_eq!(flags_of(&last), Flags::CONTINUE_TXN);

        let intents = p.build_ack_intents();
        assert_eq!(intents.iter().map(|i| &*i.journal).collect::<Vec<_>>(), vec!["sums/b", "sums/a"]);
        let mut previous = clock_of(&last);
        for intent in &intents {
            let uuid = uuids_of(&intent.intent)[0];
            assert_eq!(intent.intent, frame_ack(&uuid));
            assert_eq!(flags_of(&uuid), Flags::ACK_TXN);
            assert_eq!(clock_of(&uuid).0, previous.0 + TICK);
            previous = clock_of(&uuid);
        }
        assert!(p.build_ack_intents().is_empty(), "the set is cleared");
        p.publish_uncommitted("sums/a", b"{}").unwrap();
        assert_eq!(p.build_ack_intents().len(), 1);
    }

    #[test]
    fn a_bad_message_buffers_nothing() {
        let mut p = publisher();
        assert!(p.publish_uncommitted("j", b"[1]").is_err());
        assert!(p.publish_committed("j", b"{").is_err());
        assert!(p.take_appends().is_empty());
        assert!(p.build_ack_intents().is_empty());
    }

    #[test]
    fn an_owned_clock_follows_wall_time_and_ids_are_fresh() {
        let mut p = Publisher::with_own_clock();
        let u = p.publish_committed("j", b"{}").unwrap();
        let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
        assert!((now - clock_of(&u).as_unix_nanos()).abs() < 60_000_000_000);
        assert_ne!(Publisher::with_own_clock().producer(), p.producer());
    }
}
