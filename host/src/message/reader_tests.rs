//! Unit tests of the readers' retry behaviour against a scripted journal client, on
//! short backoffs (real time: delays are checked as lower bounds).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tokio::time::Instant;

use super::*;
use crate::journal::{AppendRequest, AppendResult, ApplyChange, JournalInfo, LabelSelector};

const J: &str = "test/journal";

/// Each `read` call pops the next scripted stream and records when and from where.
#[derive(Default)]
struct Scripted {
    streams: Mutex<VecDeque<Vec<Result<ReadChunk, JournalError>>>>,
    calls: Mutex<Vec<(Offset, Instant)>>,
}

impl JournalClient for Scripted {
    fn list(&self, _: LabelSelector) -> BoxFuture<'static, Result<Vec<JournalInfo>, JournalError>> {
        async { Ok(Vec::new()) }.boxed()
    }
    fn apply(&self, _: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>> {
        async { Err(JournalError::Invalid("scripted".into())) }.boxed()
    }
    fn append(&self, _: AppendRequest) -> BoxFuture<'static, Result<AppendResult, JournalError>> {
        async { Err(JournalError::Invalid("scripted".into())) }.boxed()
    }
    fn read(&self, req: ReadRequest) -> BoxStream<'static, Result<ReadChunk, JournalError>> {
        self.calls.lock().unwrap().push((req.offset, Instant::now()));
        let items = self.streams.lock().unwrap().pop_front().unwrap_or_default();
        futures::stream::iter(items).boxed()
    }
}

fn chunk(offset: Offset, content: &'static [u8]) -> Result<ReadChunk, JournalError> {
    Ok(ReadChunk { offset, write_head: 0, content: Bytes::from_static(content) })
}

fn unavailable() -> Result<ReadChunk, JournalError> {
    Err(JournalError::Unavailable("connection refused".into()))
}

fn at_head(offset: Offset) -> Result<ReadChunk, JournalError> {
    Err(JournalError::OffsetNotYetAvailable { journal: J.into(), offset, write_head: offset })
}

const L1: &[u8] = b"{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",\"n\":1}\n";
const L2: &[u8] = b"{\"UUID\":\"a747c01f-2c29-11ea-8000-010203040506\",\"n\":2}\n";

#[tokio::test]
async fn transient_failures_are_retried_from_the_offset_with_doubling_backoff() {
    let n1 = L1.len() as Offset;
    let client = Arc::new(Scripted::default());
    {
        let mut s = client.streams.lock().unwrap();
        s.push_back(vec![chunk(0, L1), chunk(n1, &L2[..10])]); // ends mid-line
        s.push_back(vec![unavailable()]);
        s.push_back(vec![unavailable()]);
        s.push_back(vec![chunk(n1 + 10, &L2[10..]), at_head(n1 + L2.len() as Offset)]);
    }
    let mut reader = UncommittedReader::new(client.clone(), J, 0, false).with_backoff(Backoff::new(ms(20), ms(80)));
    let start = Instant::now();
    assert_eq!(reader.next().await.unwrap().unwrap().end, n1);
    let second = reader.next().await.unwrap().unwrap();
    assert_eq!((second.begin, second.end), (n1, n1 + L2.len() as Offset));
    assert!(reader.next().await.unwrap().is_none());

    let calls = client.calls.lock().unwrap().clone();
    let offsets: Vec<Offset> = calls.iter().map(|c| c.0).collect();
    assert_eq!(offsets, vec![0, n1 + 10, n1 + 10, n1 + 10], "reopened after the buffered partial line");
    let waits: Vec<Duration> = calls.iter().map(|c| c.1 - start).collect();
    for (wait, at_least) in waits.iter().zip([0, 20, 60, 140]) {
        assert!(*wait >= ms(at_least), "{waits:?}");
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn backoff_doubles_from_50ms_caps_at_5s_and_resets() {
    let mut b = Backoff::default();
    let delays: Vec<u128> = (0..10).map(|_| b.next_delay().as_millis()).collect();
    assert_eq!(delays, vec![50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    b.reset();
    assert_eq!(b.next_delay(), ms(50));
}

#[tokio::test]
async fn progress_resets_the_backoff() {
    let client = Arc::new(Scripted::default());
    {
        let mut s = client.streams.lock().unwrap();
        for _ in 0..3 {
            s.push_back(vec![unavailable()]);
        }
        s.push_back(vec![chunk(0, L1), unavailable()]);
        s.push_back(vec![at_head(L1.len() as Offset)]);
    }
    let mut reader = UncommittedReader::new(client.clone(), J, 0, false).with_backoff(Backoff::new(ms(10), ms(1000)));
    assert!(reader.next().await.unwrap().is_some());
    assert!(reader.next().await.unwrap().is_none());
    let calls = client.calls.lock().unwrap().clone();
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].1 - w[0].1).collect();
    for (gap, at_least) in gaps.iter().zip([10, 20, 40, 10]) {
        assert!(*gap >= ms(at_least), "{gaps:?}");
    }
    assert!(gaps[3] < ms(40), "the delay after progress starts over: {gaps:?}");
}

#[tokio::test]
async fn non_transient_errors_end_the_read_naming_journal_and_offset() {
    let client = Arc::new(Scripted::default());
    client.streams.lock().unwrap().push_back(vec![Err(JournalError::NotFound { journal: J.into() })]);
    let mut reader = CommittedReader::new(client, J, 7, false);
    let err = reader.next().await.unwrap_err();
    assert_eq!(err.to_string(), format!("reading journal {J} at offset 7: journal \"{J}\" not found"));
}

#[tokio::test]
async fn decode_errors_are_reported_and_reading_continues() {
    let client = Arc::new(Scripted::default());
    client.streams.lock().unwrap().push_back(vec![chunk(0, b"oops\n"), chunk(5, L1), at_head(5 + L1.len() as Offset)]);
    let mut reader = CommittedReader::new(client, J, 0, false);
    let err = reader.next().await.unwrap_err();
    assert_eq!(err.to_string(), format!("journal {J} [0, 5): not a JSON object: expected value at line 1 column 1"));
    let env = reader.next().await.unwrap().unwrap();
    assert_eq!(env.begin, 5);
    assert!(reader.next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_range_read_stops_at_its_end_offset_even_if_more_arrives() {
    let n1 = L1.len() as Offset;
    let client = Arc::new(Scripted::default());
    // The scripted server ignores end_offset and sends both lines in one chunk.
    client.streams.lock().unwrap().push_back(vec![chunk(0, b"{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",\"n\":1}\n{\"UUID\":\"a747c01f-2c29-11ea-8000-010203040506\",\"n\":2}\n")]);
    let mut reader = UncommittedReader::new(client, J, 0, true).with_end_offset(n1);
    assert_eq!(reader.next().await.unwrap().unwrap().end, n1);
    assert!(reader.next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_read_that_starts_later_than_asked_resumes_at_the_served_offset() {
    let client = Arc::new(Scripted::default());
    client.streams.lock().unwrap().push_back(vec![chunk(100, L1), at_head(100 + L1.len() as Offset)]);
    let mut reader = UncommittedReader::new(client, J, -1, false);
    let env = reader.next().await.unwrap().unwrap();
    assert_eq!((env.begin, env.end), (100, 100 + L1.len() as Offset));
    assert!(reader.next().await.unwrap().is_none());
}
