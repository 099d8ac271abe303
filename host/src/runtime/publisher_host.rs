//! The `publisher` interface: a transaction's uncommitted publishes.
//!
//! Mirrors the guest-facing half of Gazette's `message.Publisher.PublishUncommitted`
//! (`message/publisher.go`): the guest names a journal and hands over a JSON object;
//! the host checks both and keeps the message, in order, with the transaction. Framing,
//! UUID stamping (CONTINUE_TXN) and the append are the message layer's job once the
//! transaction ends; a failed transaction's publishes are simply dropped. Domain errors
//! (unknown journal, not a JSON object) go back to the guest as a WIT `result`; sizes
//! and counts past the limits trap with the limit's name.

use std::collections::BTreeSet;

use super::bindings::publisher::Host;
use super::limits::{LimitExceeded, Limits};

/// One message a guest published in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The journal it goes to (one of the allowed journals).
    pub journal: String,
    /// The message: a JSON object, exactly as the guest wrote it (no `UUID` yet, no
    /// trailing newline).
    pub message: Vec<u8>,
}

/// The publishes of the current transaction.
#[derive(Debug, Default)]
pub struct Publishes {
    /// In publish order.
    pub messages: Vec<Published>,
    /// Sum of the messages' sizes.
    pub bytes: usize,
}

/// The `publisher` import's view of the host state.
pub struct PublisherView<'a> {
    /// This transaction's publishes so far.
    pub txn: &'a mut Publishes,
    /// Journals the guest may publish to.
    pub journals: &'a BTreeSet<String>,
    /// The instance's limits (message size, per-transaction count and bytes).
    pub limits: &'a Limits,
}

impl Host for PublisherView<'_> {
    fn publish(&mut self, journal: String, message: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let limits = self.limits;
        LimitExceeded::check("message_bytes", limits.message_bytes, message.len())?;
        LimitExceeded::check("txn_messages", limits.txn_messages, self.txn.messages.len() + 1)?;
        LimitExceeded::check(
            "txn_publish_bytes",
            limits.txn_publish_bytes,
            self.txn.bytes + message.len(),
        )?;
        if !self.journals.contains(&journal) {
            return Ok(Err(format!(
                "journal {journal} does not exist (or is not writable by this shard)"
            )));
        }
        if let Err(e) = check_json_object(&message) {
            return Ok(Err(format!("message to {journal} is not a JSON object: {e}")));
        }
        self.txn.bytes += message.len();
        self.txn.messages.push(Published { journal, message });
        Ok(Ok(()))
    }
}

/// `Ok` if `message` is exactly one JSON object (surrounding whitespace allowed).
fn check_json_object(message: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<serde_json::Value>(message) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(other) => Err(format!("found a JSON {}", json_kind(&other))),
        Err(e) => Err(e.to_string()),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMS: &str = "examples/stream-sum/sums";

    fn journals() -> BTreeSet<String> {
        [SUMS.to_owned()].into()
    }

    #[test]
    fn valid_publishes_are_kept_in_order() {
        let (journals, limits, mut txn) = (journals(), Limits::default(), Publishes::default());
        let mut view = PublisherView {
            txn: &mut txn,
            journals: &journals,
            limits: &limits,
        };
        view.publish(SUMS.into(), br#"{"SeqNo":1}"#.to_vec()).unwrap().unwrap();
        view.publish(SUMS.into(), b" {\"SeqNo\":2}\n".to_vec())
            .unwrap()
            .unwrap();
        assert_eq!(
            txn.messages,
            vec![
                Published {
                    journal: SUMS.into(),
                    message: br#"{"SeqNo":1}"#.to_vec()
                },
                Published {
                    journal: SUMS.into(),
                    message: b" {\"SeqNo\":2}\n".to_vec()
                },
            ]
        );
        assert_eq!(txn.bytes, 11 + 13);
    }

    #[test]
    fn unknown_journals_and_non_objects_are_guest_errors() {
        let (journals, limits, mut txn) = (journals(), Limits::default(), Publishes::default());
        let mut view = PublisherView {
            txn: &mut txn,
            journals: &journals,
            limits: &limits,
        };
        let cases: &[(&str, &[u8], &str)] = &[
            ("examples/nope", b"{}", "journal examples/nope does not exist"),
            (SUMS, b"[1,2]", "is not a JSON object: found a JSON array"),
            (SUMS, b"42", "found a JSON number"),
            (SUMS, b"{\"a\":", "is not a JSON object: EOF while parsing"),
            (SUMS, b"{} {}", "trailing characters"),
        ];
        for (journal, message, want) in cases {
            let err = view.publish((*journal).into(), message.to_vec()).unwrap().unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        assert!(txn.messages.is_empty());
    }

    #[test]
    fn sizes_and_counts_past_the_limits_trap_by_name() {
        let journals = journals();
        let limits = Limits {
            message_bytes: 10,
            txn_messages: 3,
            txn_publish_bytes: 25,
            ..Limits::default()
        };
        let name = |e: wasmtime::Error| e.downcast_ref::<LimitExceeded>().unwrap().name;

        let mut txn = Publishes::default();
        let mut view = PublisherView {
            txn: &mut txn,
            journals: &journals,
            limits: &limits,
        };
        assert_eq!(
            name(view.publish(SUMS.into(), br#"{"a":"xxxx"}"#.to_vec()).unwrap_err()),
            "message_bytes"
        );
        for _ in 0..3 {
            view.publish(SUMS.into(), b"{}".to_vec()).unwrap().unwrap();
        }
        assert_eq!(
            name(view.publish(SUMS.into(), b"{}".to_vec()).unwrap_err()),
            "txn_messages"
        );

        let mut txn = Publishes::default();
        let mut view = PublisherView {
            txn: &mut txn,
            journals: &journals,
            limits: &limits,
        };
        view.publish(SUMS.into(), br#"{"a":"xx"}"#.to_vec()).unwrap().unwrap(); // 10
        view.publish(SUMS.into(), br#"{"a":"xx"}"#.to_vec()).unwrap().unwrap(); // 20
        assert_eq!(
            name(view.publish(SUMS.into(), br#"{"a":1}"#.to_vec()).unwrap_err()),
            "txn_publish_bytes"
        );
    }
}
