#!/usr/bin/env bash
# Day-ahead forecasts of powerslot against Nixtla's statsforecast on the very same series and
# origins, house by house, and the table of issue 16.
#
#   scripts/peer_benchmark.sh --python /path/to/venv/bin/python [--houses scripts/peer_houses.txt]
#       [--only NAME,NAME] [--origins 8] [--last 4000] [--jobs 1] [--work out/peers]
#       [--data ../shared/data] [--powerslot target/release/powerslot] [--no-peers]
#
# For each house (a line of --houses): powerslot reads the file as its options say and writes the
# hourly series its models see (--write-series); the last --last slots of it become the
# benchmark series, one `timestamp,value` CSV that both sides read. powerslot backtests
# seasonal-naive, ets, mstl and auto on it (day ahead: horizon 24, season 24, --origins origins
# spread over the last quarter) and prints its origins; the peer script
# (../shared/tools/statsforecast/backtest_peers.py) runs statsforecast's SeasonalNaive, AutoETS
# and MSTL (seasons 24 and 168) from those origins. Peer results are cached in WORK/peers (keyed
# by the series' checksum and the origins), since each statsforecast fit takes seconds to
# minutes; --no-peers prints the table from the cache only. The python must have statsforecast
# (python3 -m venv DIR && DIR/bin/pip install statsforecast); nothing else here needs python.
#
# The table: statsforecast's seasonal naive beside powerslot's held-out seasonal-naive MAE (the
# MASE scale; they must agree, which proves the same points), AutoETS, MSTL, powerslot's ets, mstl
# and auto, and auto against the better of AutoETS and MSTL; then the geometric mean of that
# ratio and the worst house.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=""
houses="$here/peer_houses.txt"
only=""
origins=8
last=4000
jobs=1
work="$root/out/peers"
data="$root/../shared/data"
powerslot="$root/target/release/powerslot"
peers=1
peer_script=""

while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=$2; shift 2 ;;
        --houses) houses=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --origins) origins=$2; shift 2 ;;
        --last) last=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --powerslot) powerslot=$2; shift 2 ;;
        --peer-script) peer_script=$2; shift 2 ;;
        --no-peers) peers=0; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
peer_script=${peer_script:-$data/../tools/statsforecast/backtest_peers.py}
[ -n "$python" ] || { echo "error: --python PY is required (a python with statsforecast)" >&2; exit 2; }
[ -x "$powerslot" ] || { echo "error: $powerslot not found: cargo build --release -p powerslot" >&2; exit 2; }
[ -d "$data" ] || { echo "error: data directory $data not found (--data)" >&2; exit 2; }
if [ "$peers" = 1 ]; then
    [ -f "$peer_script" ] || { echo "error: peer script $peer_script not found (--peer-script)" >&2; exit 2; }
    "$python" -c 'import statsforecast' 2>/dev/null \
        || { echo "error: $python cannot import statsforecast" >&2; exit 2; }
fi
mkdir -p "$work"/uk "$work"/series "$work"/powerslot "$work"/peers
work=$(cd "$work" && pwd)

# The UK homes: whole-house power of the months without long zero-filled gaps (SOURCE.md's
# table), joined into one 1-minute file each from the first full hour on; runs of ten or more
# exact zeros are gaps the extract filled with 0, so they are blanked and powerslot fills them
# by its gap policy.
uk_home() { # NAME FIRST_MONTH LAST_MONTH
    local out="$work/uk/$1.csv" files=()
    [ -s "$out" ] && return 0
    for f in "$data"/household_appliances_1min_uk/"$1"_*.gzip; do
        local month=${f##*_}; month=${month%.gzip}
        if [[ ! "$month" < "$2" && ! "$month" > "$3" ]]; then files+=("$f"); fi
    done
    gzip -dc "${files[@]}" | awk -F, -v OFS=, -v min=10 '
        function flush(blank,   i) { for (i = 1; i <= n; i++) print t[i], (blank ? "" : v[i]); n = 0 }
        $1 == "Time" { if (!header++) print "Time,Aggregate"; next }
        !started && $1 !~ /:00:00$/ { next }   # start on the hour, so hourly slots are clock hours
        { started = 1 }
        $2 + 0 == 0 { n++; t[n] = $1; v[n] = $2; next }
        { if (n) flush(n >= min); print $1, $2 }
        END { if (n) flush(n >= min) }' > "$out.tmp"
    mv "$out.tmp" "$out"
}
uk_home REFIT_House2 2014-03 2014-09
uk_home REFIT_House20 2014-03 2014-09
uk_home UKDALE_House2 2013-05 2013-07

selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
json() { "$python" -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

names=()
while read -r name file opts; do
    case "$name" in ''|'#'*) continue ;; esac
    selected "$name" || continue
    file=${file//\$DATA/$data}; file=${file//\$WORK/$work}
    series="$work/series/$name.csv"
    # shellcheck disable=SC2086 # the options are words
    "$powerslot" forecast backtest "$file" $opts --models seasonal-naive --horizon 24 --origins 1 \
        --no-plot --json --write-series "$series.full" > /dev/null
    { head -n 1 "$series.full"; tail -n +2 "$series.full" | tail -n "$last"; } > "$series"
    rm -f "$series.full"
    common=(--value-column value --horizon 24 --season 24 --origins "$origins" --no-plot --json)
    "$powerslot" forecast backtest "$series" "${common[@]}" --models seasonal-naive,ets,mstl \
        > "$work/powerslot/$name.singles.json"
    "$powerslot" forecast backtest "$series" "${common[@]}" --models auto > "$work/powerslot/$name.auto.json"
    names+=("$name")
    echo "powerslot: $name done" >&2
done < "$houses"

# The peers, newest cache first; up to --jobs at once.
run_peer() {
    local name=$1 report="$work/powerslot/$1.singles.json" series="$work/series/$1.csv"
    local first spacing count key
    first=$(json "$report" "['first_origin']")
    spacing=$(json "$report" "['spacing']")
    count=$(json "$report" "['origins']")
    key="$(cksum < "$series" | cut -d' ' -f1) $first $spacing $count"
    if [ -s "$work/peers/$name.json" ] && [ "$(cat "$work/peers/$name.key" 2>/dev/null)" = "$key" ]; then
        return 0
    fi
    "$python" "$peer_script" "$series" --time-column timestamp --value-column value --horizon 24 \
        --first-origin "$first" --spacing "$spacing" --origins "$count" --season 24 --seasons 24,168 \
        --json > "$work/peers/$name.json.tmp"
    mv "$work/peers/$name.json.tmp" "$work/peers/$name.json"
    echo "$key" > "$work/peers/$name.key"
    echo "peers: $name done" >&2
}
if [ "$peers" = 1 ]; then
    for name in "${names[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        run_peer "$name" &
    done
    wait
fi

"$python" - "$work" "${names[@]}" <<'PY'
import json, math, os, sys
work, names = sys.argv[1], sys.argv[2:]
def f4(x):
    return "–" if math.isnan(x) else f"{x:.4f}"
def load(p):
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
print("| house | origins | slots | statsforecast seasonal naive / powerslot's | AutoETS | MSTL | powerslot `ets` | powerslot `mstl` | powerslot `auto` | auto vs better peer |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ratios, ets_r, mstl_r, missing = [], [], [], []
for n in names:
    s, a = load(f"{work}/powerslot/{n}.singles.json"), load(f"{work}/powerslot/{n}.auto.json")
    p = load(f"{work}/peers/{n}.json")
    # A model the house is too short for (mstl needs two weeks) is missing from the report.
    mine = {m["name"]: m["mae"] for m in s["models"]}
    for m in ("ets", "mstl"):
        mine.setdefault(m, float("nan"))
    auto = a["models"][0]["mae"]
    if p is not None and (p["origins"] != s["origins"] or p["first_origin_slot"] != s["train_slots"]):
        p = None  # the cached peer run is of other origins
    if p is None:
        missing.append(n)
        print(f"| {n} | {s['origins']} | {s['train_slots']} | – / {s['mase_scale']:.4f} | – | – | {f4(mine['ets'])} | {f4(mine['mstl'])} | {auto:.4f} | no peer run |")
        continue
    peer = {m["name"]: m for m in p["models"]}
    best = min(peer["autoets"]["mae"], peer["mstl"]["mae"])
    r = auto / best
    ratios.append((r, n))
    for ratios_of, m, ref in ((ets_r, "ets", "autoets"), (mstl_r, "mstl", "mstl")):
        if not math.isnan(mine[m]):
            ratios_of.append((mine[m] / peer[ref]["mae"], n))
    agree = abs(peer["seasonal-naive"]["mae"] / s["mase_scale"] - 1) < 0.01
    print(f"| {n} | {p['origins']} | {s['train_slots']} | {peer['seasonal-naive']['mae']:.4f} / {s['mase_scale']:.4f}{'' if agree else ' (differ!)'} "
          f"| {peer['autoets']['mae']:.4f} ({peer['autoets']['seconds_per_fit']:.1f} s) | {peer['mstl']['mae']:.4f} ({peer['mstl']['seconds_per_fit']:.1f} s) "
          f"| {f4(mine['ets'])} | {f4(mine['mstl'])} | {auto:.4f} | {100 * (r - 1):+.1f} % |")
def gm(v):
    return math.exp(sum(math.log(x) for x, _ in v) / len(v)) if v else float("nan")
if ratios:
    w = max(ratios)
    print(f"\n{len(ratios)} houses with peers: auto / better peer geometric mean {gm(ratios):.3f} "
          f"({100 * (gm(ratios) - 1):+.1f} %), worst {w[1]} {100 * (w[0] - 1):+.1f} %, "
          f"at least 10 % better on {sum(r <= 0.9 for r, _ in ratios)} of {len(ratios)}")
    we, wm = max(ets_r), max(mstl_r)
    print(f"ets / AutoETS: geometric mean {gm(ets_r):.3f}, worst {we[1]} {100 * (we[0] - 1):+.1f} %, within 2 % on {sum(r <= 1.02 for r, _ in ets_r)} of {len(ets_r)}")
    print(f"mstl / MSTL: geometric mean {gm(mstl_r):.3f}, worst {wm[1]} {100 * (wm[0] - 1):+.1f} %, within 2 % on {sum(r <= 1.02 for r, _ in mstl_r)} of {len(mstl_r)}")
if missing:
    print(f"no peer results yet for {len(missing)}: {', '.join(missing)}")
PY
