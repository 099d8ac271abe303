//! The shard checkpoint: what a shard transaction commits atomically with its store
//! writes, and what a restarted shard resumes from.
//!
//! Mirrors Gazette's `consumer.Checkpoint` proto (`consumer/protocol/protocol.proto`)
//! and `BuildCheckpoint` / `FlattenReadThrough` / `FlattenProducerStates`
//! (`consumer/interfaces.go`), with Gazette's field numbers, so the encoded bytes are
//! the same message Gazette stores:
//!
//! ```text
//! Checkpoint { sources = 1 map<string, Source>, ack_intents = 2 map<string, bytes> }
//! Source { read_through = 1 int64, producers = 2 repeated ProducerEntry }
//! ProducerEntry { id = 1 bytes (6), state = 2 ProducerState }
//! ProducerState { last_ack = 1 fixed64, begin = 2 int64 (-1: no open span) }
//! ```
//!
//! Maps are encoded in key order, so equal checkpoints encode to equal bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;
use thiserror::Error;

use crate::message::{Clock, Offset, ProducerId, ProducerState, SequencerState};

/// Wire form of `consumer.Checkpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckpointProto {
    /// Per source journal: read-through offset and producer states.
    #[prost(btree_map = "string, message", tag = "1")]
    pub sources: BTreeMap<String, SourceProto>,
    /// Per journal: the framed ACK message to (re)append on recovery.
    #[prost(btree_map = "string, bytes", tag = "2")]
    pub ack_intents: BTreeMap<String, Vec<u8>>,
}

/// Wire form of `consumer.Checkpoint.Source`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceProto {
    /// Offset to resume reading the journal from.
    #[prost(int64, tag = "1")]
    pub read_through: i64,
    /// States of the journal's producers.
    #[prost(message, repeated, tag = "2")]
    pub producers: Vec<ProducerEntryProto>,
}

/// Wire form of `consumer.Checkpoint.Source.ProducerEntry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProducerEntryProto {
    /// The 6-byte producer id.
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    /// The producer's state.
    #[prost(message, optional, tag = "2")]
    pub state: Option<ProducerStateProto>,
}

/// Wire form of `consumer.Checkpoint.ProducerState`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProducerStateProto {
    /// Clock of the last acknowledged message.
    #[prost(fixed64, tag = "1")]
    pub last_ack: u64,
    /// Offset of the open span, or -1.
    #[prost(int64, tag = "2")]
    pub begin: i64,
}

/// A checkpoint that cannot be decoded.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The bytes are not a `consumer.Checkpoint` message.
    #[error("checkpoint is not a valid consumer.Checkpoint message: {0}")]
    Proto(#[from] prost::DecodeError),
    /// A producer id is not 6 bytes long.
    #[error("checkpoint source {journal}: producer id has {len} bytes, want 6")]
    ProducerIdLength { journal: String, len: usize },
    /// A producer entry has no state.
    #[error("checkpoint source {journal}: producer {producer} has no state")]
    MissingState { journal: String, producer: ProducerId },
    /// A producer's open-span offset is below -1.
    #[error("checkpoint source {journal}: producer {producer} has begin offset {begin} (want >= -1)")]
    BadBegin { journal: String, producer: ProducerId, begin: i64 },
}

/// A shard's checkpoint: sequencer state plus the ACK intents of its last transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Read-through offsets and producer states of the shard's sequencer.
    pub sequencer: SequencerState,
    /// Per output journal, the framed ACK to append after (and on recovery of) the
    /// commit. Appended verbatim: never regenerated.
    pub ack_intents: BTreeMap<Arc<str>, Vec<u8>>,
}

impl Checkpoint {
    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes a checkpoint; an empty buffer is the empty checkpoint of a new shard.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the journal whose entry is bad.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::from_proto(CheckpointProto::decode(bytes)?)
    }

    /// The wire form (Gazette's `BuildCheckpoint`): one source per journal with a
    /// read-through offset or a producer.
    pub fn to_proto(&self) -> CheckpointProto {
        let mut sources: BTreeMap<String, SourceProto> = BTreeMap::new();
        for (journal, offset) in &self.sequencer.read_through {
            sources.entry(journal.to_string()).or_default().read_through = *offset;
        }
        for s in &self.sequencer.producers {
            sources.entry(s.journal.to_string()).or_default().producers.push(ProducerEntryProto {
                id: s.producer.0.to_vec(),
                state: Some(ProducerStateProto { last_ack: s.last_ack.0, begin: s.begin }),
            });
        }
        let ack_intents = self.ack_intents.iter().map(|(j, b)| (j.to_string(), b.clone())).collect();
        CheckpointProto { sources, ack_intents }
    }

    /// From the wire form (Gazette's `FlattenReadThrough` + `FlattenProducerStates`).
    ///
    /// # Errors
    /// [`CheckpointError`] naming the journal whose entry is bad.
    pub fn from_proto(proto: CheckpointProto) -> Result<Checkpoint, CheckpointError> {
        let mut sequencer = SequencerState::default();
        for (journal, source) in proto.sources {
            let name: Arc<str> = journal.as_str().into();
            sequencer.read_through.insert(name.clone(), source.read_through);
            for entry in source.producers {
                let id: [u8; 6] = entry
                    .id
                    .as_slice()
                    .try_into()
                    .map_err(|_| CheckpointError::ProducerIdLength { journal: journal.clone(), len: entry.id.len() })?;
                let producer = ProducerId(id);
                let state =
                    entry.state.ok_or_else(|| CheckpointError::MissingState { journal: journal.clone(), producer })?;
                if state.begin < -1 {
                    return Err(CheckpointError::BadBegin { journal: journal.clone(), producer, begin: state.begin });
                }
                sequencer.producers.push(ProducerState {
                    journal: name.clone(),
                    producer,
                    last_ack: Clock(state.last_ack),
                    begin: state.begin as Offset,
                });
            }
        }
        sequencer.producers.sort();
        let ack_intents = proto.ack_intents.into_iter().map(|(j, b)| (Arc::from(j.as_str()), b)).collect();
        Ok(Checkpoint { sequencer, ack_intents })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const J: &str = "examples/stream-sum/chunks/part-000";

    fn sample() -> Checkpoint {
        let mut cp = Checkpoint::default();
        cp.sequencer.read_through.insert(J.into(), 1234);
        cp.sequencer.producers.push(ProducerState {
            journal: J.into(),
            producer: ProducerId([1, 2, 3, 4, 5, 6]),
            last_ack: Clock(0x1ea2c29a747c01e5),
            begin: -1,
        });
        cp.ack_intents.insert("sums".into(), b"{\"UUID\":\"x\"}\n".to_vec());
        cp
    }

    #[test]
    fn encoding_uses_gazettes_field_numbers_and_wire_types_byte_for_byte() {
        let bytes = sample().encode();
        // Hand-assembled from the proto definition (see module docs).
        let mut state = vec![0x09]; // field 1, fixed64
        state.extend_from_slice(&0x1ea2c29a747c01e5u64.to_le_bytes());
        state.extend_from_slice(&[0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // field 2, int64 -1: 10-byte varint
        let mut entry = vec![0x0a, 6, 1, 2, 3, 4, 5, 6, 0x12, state.len() as u8];
        entry.extend_from_slice(&state);
        let mut source = vec![0x08, 0xd2, 0x09, 0x12, entry.len() as u8]; // read_through 1234
        source.extend_from_slice(&entry);
        let mut map_entry = vec![0x0a, J.len() as u8];
        map_entry.extend_from_slice(J.as_bytes());
        map_entry.extend_from_slice(&[0x12, source.len() as u8]);
        map_entry.extend_from_slice(&source);
        let mut want = vec![0x0a, map_entry.len() as u8];
        want.extend_from_slice(&map_entry);
        let intent = b"{\"UUID\":\"x\"}\n";
        want.extend_from_slice(&[0x12, (2 + 4 + 2 + intent.len()) as u8, 0x0a, 4]);
        want.extend_from_slice(b"sums");
        want.extend_from_slice(&[0x12, intent.len() as u8]);
        want.extend_from_slice(intent);
        assert_eq!(bytes, want);
    }

    #[test]
    fn round_trips_including_begin_minus_one_and_open_spans() {
        let mut cp = sample();
        cp.sequencer.producers.push(ProducerState {
            journal: "other".into(),
            producer: ProducerId([9; 6]),
            last_ack: Clock(u64::MAX),
            begin: 1 << 40,
        });
        cp.sequencer.producers.sort();
        let back = Checkpoint::decode(&cp.encode()).unwrap();
        // A journal with producers but no read offset gets read_through 0.
        cp.sequencer.read_through.insert("other".into(), 0);
        assert_eq!(back, cp);
        assert_eq!(Checkpoint::decode(&[]).unwrap(), Checkpoint::default());
    }

    #[test]
    fn decode_errors_are_clear_and_name_the_journal() {
        let err = Checkpoint::decode(&[0x0a, 0x05, 0x01]).unwrap_err();
        assert!(err.to_string().starts_with("checkpoint is not a valid consumer.Checkpoint message"), "{err}");

        let mut proto = sample().to_proto();
        proto.sources.get_mut(J).unwrap().producers[0].id.pop();
        let err = Checkpoint::decode(&proto.encode_to_vec()).unwrap_err();
        assert_eq!(err.to_string(), format!("checkpoint source {J}: producer id has 5 bytes, want 6"));

        let mut proto = sample().to_proto();
        proto.sources.get_mut(J).unwrap().producers[0].state = None;
        let err = Checkpoint::decode(&proto.encode_to_vec()).unwrap_err();
        assert_eq!(err.to_string(), format!("checkpoint source {J}: producer 01:02:03:04:05:06 has no state"));

        let mut proto = sample().to_proto();
        proto.sources.get_mut(J).unwrap().producers[0].state.as_mut().unwrap().begin = -2;
        assert!(matches!(Checkpoint::decode(&proto.encode_to_vec()), Err(CheckpointError::BadBegin { begin: -2, .. })));
    }
}
