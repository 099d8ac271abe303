#!/usr/bin/env bash
# The main job on a cluster on this machine, run by `scripts/run.sh --cluster`: an etcd,
# 3 brokers (every journal replicated on all 3) and 3 shard hosts as separate processes, each a member of the cluster
# (`--etcd`); the stream-sum journals and shards applied from kustomize/stream-sum/;
# then a chunker job, whose report must pass. With KILL_ONE=1 a shard host holding
# primaries is killed with SIGKILL while the chunker runs: its shards move to their
# standbys once its lease (LEASE, default 3s) expires, and the report must still pass.
#
#   STREAMS=100 CHUNKS=100 WORKERS=4 scripts/run.sh --cluster   # the defaults
#   KILL_ONE=1 STREAMS=400 scripts/run.sh --cluster             # with a failover
#   DATA_DIR=./cluster-data scripts/run.sh --cluster            # keep data and logs
set -euo pipefail
cd "$(dirname "$0")/.."

# run.sh set up the machine and built everything into $TARGET.
target="${TARGET:?run this through scripts/run.sh --cluster}"
bin="$target/release/streamsum-host"
data="${DATA_DIR:-$(mktemp -d -t streamsum-cluster.XXXXXX)}"
lease="${LEASE:-3s}"
mkdir -p "$data"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# A TCP port nothing listens on (etcd needs its ports up front).
free_port() {
  while :; do
    local p; p=$(shuf -i 20000-60999 -n 1)
    grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
  done
}

# Waits for `$2` in the file `$1` (a process's stdout) and prints what follows it.
address_in() {
  local out=$1 prefix=$2 pid=$3 addr=""
  for _ in $(seq 1 600); do
    addr=$(sed -n "s/^$prefix //p" "$out")
    [ -n "$addr" ] && { echo "$addr"; return; }
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited; see ${out%.out}.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "no '$prefix' in $out after 60s" >&2; exit 1
}

client=$(free_port); peer=$(free_port)
etcd_url="http://127.0.0.1:$client"
etcd --name streamsum --data-dir "$data/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "streamsum=http://127.0.0.1:$peer" >"$data/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q "ready to serve client requests" "$data/etcd.log" && break
  sleep 0.1
done
echo "== etcd on $etcd_url"

brokers=()
for b in b1 b2 b3; do
  "$bin" broker --etcd "$etcd_url" --etcd-lease "$lease" --id "$b" --data-dir "$data/$b" --listen 127.0.0.1:0 \
    >"$data/$b.out" 2>"$data/$b.log" &
  pids+=($!)
  brokers+=("$(address_in "$data/$b.out" "broker listening on" $!)")
done
echo "== brokers ${brokers[*]}"
"$bin" journals apply --broker "${brokers[0]}" kustomize/stream-sum/journalspace.yaml

hosts=(); host_pids=()
for i in 1 2 3; do
  "$bin" --app "$target/wasm/guest_summer.wasm" --broker "${brokers[$(( (i - 1) % 3 ))]}" --etcd "$etcd_url" \
    --etcd-lease "$lease" --id "h$i" --data-dir "$data/h$i" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    >"$data/h$i.out" 2>"$data/h$i.log" &
  pids+=($!); host_pids+=($!)
  hosts+=("$(address_in "$data/h$i.out" "shard host listening on" $!)")
done
echo "== shard hosts ${hosts[*]}"
"$bin" shards apply --broker "${hosts[0]}" kustomize/stream-sum/shardspace.yaml

# Every shard has a primary and a standby before the job starts.
for _ in $(seq 1 600); do
  ready=$("$bin" shards list --broker "${hosts[0]}" | grep -cE 'h[0-9]:PRIMARY,local#h[0-9]:STANDBY' || true)
  [ "$ready" -eq 8 ] && break
  sleep 0.1
done
"$bin" shards list --broker "${hosts[0]}" --journals "${brokers[0]}" | cut -c1-80
[ "$ready" -eq 8 ] || { echo "only $ready of 8 shards have a primary and a standby; logs in $data" >&2; exit 1; }
echo "== data and logs in $data"

STREAMSUM_LOG="${STREAMSUM_LOG:-error}" "$bin" chunker --app "$target/wasm/guest_chunker.wasm" --broker "${brokers[1]}" \
  --streams "${STREAMS:-100}" --chunks "${CHUNKS:-100}" --workers "${WORKERS:-4}" &
chunker=$!
if [ "${KILL_ONE:-0}" = 1 ]; then
  sleep 2
  # The host with the most primaries.
  victim=$("$bin" shards list --broker "${hosts[0]}" | grep -oE 'local#h[0-9]:PRIMARY' | sort | uniq -c | sort -rn | head -1 | grep -oE 'h[0-9]')
  kill -KILL "${host_pids[$(( ${victim#h} - 1 ))]}"
  echo "== killed shard host $victim (kill -9) while the chunker runs; its shards move after the $lease lease"
fi
wait $chunker
status=$?
for h in "${hosts[@]}"; do
  if "$bin" shards list --broker "$h" >/dev/null 2>&1; then
    "$bin" shards list --broker "$h" --journals "${brokers[0]}" | cut -c1-100
    break
  fi
done
exit $status
