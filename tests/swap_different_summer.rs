//! A swap to a behaviourally different summer (issue 7): `bytes_summer.wasm` sums
//! streams on the same stored state as `guest_summer.wasm` and also counts, per stream,
//! the data bytes it applied and the first sequence number it applied. Swapped in by
//! `plugins reload` in the middle of a chunker run, it continues the streams the old
//! version started: the chunker verifies every sum, and every stream's counter covers
//! exactly the chunks from the swap on (nothing skipped or applied twice at the
//! boundary).

mod support;
mod swap_support;

use std::collections::BTreeMap;
use std::time::Duration;

use streamsum_host::store::ShardDb;
use streamsum_model::StreamId;
use support::*;
use swap_support::*;

const LIMIT: Duration = Duration::from_secs(60);
const CHUNKS: u64 = 200;
const CHUNK_BYTES: u64 = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_summer_continues_the_streams_where_the_old_one_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    std::fs::copy(wasm("guest_summer.wasm"), &app).unwrap();
    let data = dir.path().join("host");
    let host = Host::start_app(&app, &data, "127.0.0.1:0", &["--partitions", "2"]);
    let job = Job::start(&host.url, &dir.path().join("chunker"), 2, 50, CHUNKS as u32);

    // Swap once the old version has committed a good part of the run.
    wait_listing(&host.url, LIMIT, "progress on the old version", |l| {
        l.shards.iter().map(|s| s.messages).sum::<u64>() >= 4000
    })
    .await;
    let bytes_summer = wasm("bytes_summer.wasm");
    let out = reload_cli(&host.url, Some(&bytes_summer));
    assert!(out.status.success(), "{}", describe(&out));
    let new = sha256_hex(&std::fs::read(&bytes_summer).unwrap());
    wait_listing(&host.url, LIMIT, "bytes_summer on every shard", |l| all_on(l, &new)).await;

    let report = job.finish();
    assert!(report.contains("chunker report: 2 workers, 100 streams verified, 20100 chunks, "), "{report}");

    // Which streams each shard consumed, from the chunk partitions.
    let client = host.client();
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in 0..2 {
        let text =
            String::from_utf8(read_all(&client, &format!("examples/stream-sum/chunks/part-{p:03}")).await).unwrap();
        let ids = streams.entry(format!("chunks-part-{p:03}")).or_default();
        for line in text.lines().filter(|l| l.contains("\"SeqNo\":1,")) {
            ids.push(json_str(line, "ID").unwrap().to_string());
        }
        ids.sort();
        ids.dedup();
    }
    assert_eq!(streams.values().map(Vec::len).sum::<usize>(), 100, "{streams:?}");
    let l = list(&host.url).await;
    assert!(all_on(&l, &new) && l.rollbacks == 0, "{l:#?}");
    host.stop();

    let (mut fresh, mut straddling, mut before) = (0, 0, 0);
    for (shard, ids) in &streams {
        let db = ShardDb::open_blocking(&data.join("shards").join(shard), false).unwrap();
        for hex in ids {
            let id = StreamId::from_hex(hex).unwrap();
            let key = [id.as_bytes().as_slice(), b"/bytes"].concat();
            let Some(value) = db.get(&key).unwrap() else {
                before += 1; // Ended before the swap.
                continue;
            };
            assert_eq!(value.len(), 16, "{shard} {hex}");
            let first = u64::from_le_bytes(value[..8].try_into().unwrap());
            let counted = u64::from_le_bytes(value[8..].try_into().unwrap());
            assert!((1..=CHUNKS + 1).contains(&first), "{shard} {hex}: first {first}");
            assert_eq!(
                counted,
                (CHUNKS + 1 - first) * CHUNK_BYTES,
                "{shard} {hex}: first chunk {first}, {counted} bytes"
            );
            if first == 1 {
                fresh += 1;
            } else {
                straddling += 1;
            }
        }
    }
    // The chunker runs its streams concurrently: most are in flight at the swap.
    assert!(straddling >= 1, "no stream was in flight at the swap ({fresh} fresh, {before} ended before)");
    assert_eq!(fresh + straddling + before, 100);
}
