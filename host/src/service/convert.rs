//! Conversions between the journal layer's types and Gazette's protobuf messages.
//!
//! Incoming messages are validated as Gazette's `Validate` methods do (sorted,
//! well-formed label sets, valid names and codecs); invalid ones become
//! `JournalError::Invalid`, which the service answers with `INVALID_ARGUMENT`.
//! [`to_status`] and [`from_status`] are the only conversions to and from
//! `tonic::Status`.

use std::time::Duration;

use crate::journal::{Codec, FragmentSpec, JournalError, JournalSpec, Label, LabelSelector, LabelSet, Misrouted, ProcessId, Route};

use super::proto;

/// A gRPC status for a journal error that has no Gazette `Status` of its own.
pub fn to_status(e: &JournalError) -> tonic::Status {
    match e {
        JournalError::Invalid(_) | JournalError::Protocol(_) => tonic::Status::invalid_argument(e.to_string()),
        JournalError::Unavailable(_) => tonic::Status::unavailable(e.to_string()),
        _ => tonic::Status::internal(e.to_string()),
    }
}

/// A journal error for a gRPC failure seen by a client.
pub fn from_status(s: tonic::Status) -> JournalError {
    use tonic::Code;
    let msg = format!("{:?}: {}", s.code(), s.message());
    match s.code() {
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded | Code::Aborted | Code::Unknown => {
            JournalError::Unavailable(msg)
        }
        // A connection cut mid-request (a broker restarting) surfaces from hyper/h2 as
        // an INTERNAL status; it is as transient as a refused connection.
        Code::Internal if is_connection_failure(s.message()) => JournalError::Unavailable(msg),
        Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted | Code::FailedPrecondition => {
            JournalError::Invalid(s.message().trim_start_matches("invalid request: ").to_string())
        }
        _ => JournalError::Protocol(msg),
    }
}

/// Whether an INTERNAL status's message describes the transport, not the broker.
fn is_connection_failure(message: &str) -> bool {
    ["h2 protocol error", "transport error", "connection reset", "broken pipe", "connection closed"]
        .iter()
        .any(|m| message.to_ascii_lowercase().contains(m))
}

/// The Gazette status a journal error is reported as, if it has one.
pub fn gazette_status(e: &JournalError) -> Option<proto::Status> {
    Some(match e {
        JournalError::NotFound { .. } => proto::Status::JournalNotFound,
        JournalError::OffsetNotYetAvailable { .. } => proto::Status::OffsetNotYetAvailable,
        JournalError::RegisterMismatch { .. } => proto::Status::RegisterMismatch,
        JournalError::WrongAppendOffset { .. } => proto::Status::WrongAppendOffset,
        JournalError::NotAllowed { .. } => proto::Status::NotAllowed,
        JournalError::EtcdTransactionFailed(_) => proto::Status::EtcdTransactionFailed,
        JournalError::Status { status, .. } => proto::Status::from_str_name(status)?,
        _ => return None,
    })
}

/// The Gazette status of a request this broker does not serve itself.
pub fn misrouted_status(m: Misrouted) -> proto::Status {
    match m {
        Misrouted::NotJournalBroker => proto::Status::NotJournalBroker,
        Misrouted::NotJournalPrimaryBroker => proto::Status::NotJournalPrimaryBroker,
        Misrouted::NoJournalPrimaryBroker => proto::Status::NoJournalPrimaryBroker,
    }
}

/// A process id as Gazette's `ProcessSpec.ID`.
pub fn process_id_out(id: &ProcessId) -> proto::process_spec::Id {
    proto::process_spec::Id { zone: id.zone.clone(), suffix: id.suffix.clone() }
}

/// A route as Gazette's `Route` (primary -1 when none is assigned).
pub fn route_out(route: &Route) -> proto::Route {
    proto::Route {
        members: route.members.iter().map(process_id_out).collect(),
        primary: route.primary.map_or(-1, |p| p as i32),
        endpoints: route.endpoints.clone(),
    }
}

/// Gazette's `Route` as a route (a primary index out of range means none).
pub fn route_in(route: &proto::Route) -> Route {
    let members: Vec<ProcessId> = route.members.iter().map(|m| ProcessId::new(m.zone.clone(), m.suffix.clone())).collect();
    let primary = usize::try_from(route.primary).ok().filter(|p| *p < members.len());
    Route { members, primary, endpoints: route.endpoints.clone() }
}

/// The journal error for a non-OK Gazette status in a response.
pub fn status_error(status: i32, journal: &str) -> JournalError {
    let st = proto::Status::try_from(status);
    match st {
        Ok(proto::Status::JournalNotFound) => JournalError::NotFound { journal: journal.to_string() },
        Ok(proto::Status::NotAllowed) => JournalError::NotAllowed { journal: journal.to_string(), op: "operation" },
        Ok(proto::Status::EtcdTransactionFailed) => JournalError::EtcdTransactionFailed(format!("journal {journal:?}")),
        Ok(s) => JournalError::Status { journal: journal.to_string(), status: s.as_str_name().to_string() },
        Err(_) => JournalError::Protocol(format!("journal {journal:?}: unknown status {status}")),
    }
}

/// Proto label set to a validated domain set (`allow_prefix` for selectors).
pub fn label_set_in(set: Option<proto::LabelSet>, allow_prefix: bool) -> Result<LabelSet, JournalError> {
    let labels = set.map(|s| s.labels).unwrap_or_default();
    let out = LabelSet(labels.into_iter().map(|l| Label { name: l.name, value: l.value, prefix: l.prefix }).collect());
    out.validate(allow_prefix)?;
    Ok(out)
}

/// Domain label set to proto.
pub fn label_set_out(set: &LabelSet) -> proto::LabelSet {
    proto::LabelSet {
        labels: set.0.iter().map(|l| proto::Label { name: l.name.clone(), value: l.value.clone(), prefix: l.prefix }).collect(),
    }
}

/// Proto selector to a validated domain selector.
pub fn selector_in(sel: Option<proto::LabelSelector>) -> Result<LabelSelector, JournalError> {
    let sel = sel.unwrap_or_default();
    Ok(LabelSelector { include: label_set_in(sel.include, true)?, exclude: label_set_in(sel.exclude, true)? })
}

/// Domain selector to proto.
pub fn selector_out(sel: &LabelSelector) -> proto::LabelSelector {
    proto::LabelSelector { include: Some(label_set_out(&sel.include)), exclude: Some(label_set_out(&sel.exclude)) }
}

/// A proto duration, refused when negative (`field` names it in the error).
pub fn duration_in(d: Option<prost_types::Duration>, field: &str) -> Result<Duration, JournalError> {
    let d = d.unwrap_or_default();
    if d.seconds < 0 || d.nanos < 0 {
        return Err(JournalError::invalid(format!("{field} is negative")));
    }
    Ok(Duration::new(d.seconds as u64, d.nanos as u32))
}

/// A duration as proto.
pub fn duration_out(d: Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

/// Proto spec to a validated domain spec.
pub fn spec_in(spec: proto::JournalSpec) -> Result<JournalSpec, JournalError> {
    let frag = spec.fragment.unwrap_or_default();
    let out = JournalSpec {
        name: spec.name,
        replication: spec.replication,
        labels: label_set_in(spec.labels, false)?,
        fragment: FragmentSpec {
            length: frag.length,
            compression_codec: Codec::from_i32(frag.compression_codec)?,
            stores: frag.stores,
            refresh_interval: duration_in(frag.refresh_interval, "refresh_interval")?,
            retention: duration_in(frag.retention, "retention").unwrap_or_default(),
            flush_interval: duration_in(frag.flush_interval, "flush_interval")?,
            path_postfix_template: frag.path_postfix_template,
        },
        flags: spec.flags,
        max_append_rate: spec.max_append_rate,
    };
    out.validate()?;
    Ok(out)
}

/// Domain spec to proto.
pub fn spec_out(spec: &JournalSpec) -> proto::JournalSpec {
    let f = &spec.fragment;
    proto::JournalSpec {
        name: spec.name.clone(),
        replication: spec.replication,
        labels: Some(label_set_out(&spec.labels)),
        fragment: Some(proto::journal_spec::Fragment {
            length: f.length,
            compression_codec: f.compression_codec.to_i32(),
            stores: f.stores.clone(),
            refresh_interval: Some(duration_out(f.refresh_interval)),
            retention: Some(duration_out(f.retention)),
            flush_interval: Some(duration_out(f.flush_interval)),
            path_postfix_template: f.path_postfix_template.clone(),
        }),
        flags: spec.flags,
        max_append_rate: spec.max_append_rate,
        suspend: None,
    }
}

/// A SHA-1 digest split big-endian into Gazette's `SHA1Sum`.
pub fn sha1_out(d: &[u8; 20]) -> proto::Sha1Sum {
    proto::Sha1Sum {
        part1: u64::from_be_bytes(d[0..8].try_into().unwrap()),
        part2: u64::from_be_bytes(d[8..16].try_into().unwrap()),
        part3: u32::from_be_bytes(d[16..20].try_into().unwrap()),
    }
}

/// Gazette's `SHA1Sum` back into 20 bytes.
pub fn sha1_in(s: &proto::Sha1Sum) -> [u8; 20] {
    let mut d = [0u8; 20];
    d[0..8].copy_from_slice(&s.part1.to_be_bytes());
    d[8..16].copy_from_slice(&s.part2.to_be_bytes());
    d[16..20].copy_from_slice(&s.part3.to_be_bytes());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_transient_or_permanent_errors() {
        use tonic::{Code, Status};
        let cases = [
            (Status::unavailable("connection refused"), true),
            (Status::internal("h2 protocol error: error reading a body from connection"), true),
            (Status::internal("transport error"), true),
            (Status::internal("a bug in the broker"), false),
            (Status::invalid_argument("bad journal name"), false),
            (Status::new(Code::NotFound, "nope"), false),
        ];
        for (status, transient) in cases {
            let text = status.message().to_string();
            assert_eq!(from_status(status).is_transient(), transient, "{text}");
        }
    }

    #[test]
    fn specs_and_sums_round_trip_through_proto() {
        let spec = crate::journal::defaults::stream_sum_specs(1).remove(0);
        assert_eq!(spec_in(spec_out(&spec)).unwrap(), spec);
        let d: [u8; 20] = core::array::from_fn(|i| i as u8 * 7);
        assert_eq!(sha1_in(&sha1_out(&d)), d);
        assert_eq!(sha1_out(&d).part1, 0x00070e151c232a31);
    }

    #[test]
    fn invalid_proto_specs_and_selectors_are_refused() {
        let mut p = spec_out(&crate::journal::defaults::stream_sum_specs(1).remove(0));
        p.fragment.as_mut().unwrap().compression_codec = 0;
        assert!(spec_in(p).unwrap_err().to_string().contains("codec"));
        let unsorted = proto::LabelSet {
            labels: vec![
                proto::Label { name: "zz".into(), value: "1".into(), prefix: false },
                proto::Label { name: "aa".into(), value: "1".into(), prefix: false },
            ],
        };
        assert!(selector_in(Some(proto::LabelSelector { include: Some(unsorted), exclude: None })).is_err());
    }
}
