#!/usr/bin/env python3
"""Side by side: EMHASS and `powerslot day` on the same days, both plans checked and costed
by the EMHASS driver's `--check-plan` (the same rules and the same bill for both).

Days: the driver's built-in day and synthetic days (`--synthetic N --seed S`), each with and
without the driver's 5 kWh battery; plus the driver's non-preemptive "cliff" days (every load
one block, fixed grid limit) where EMHASS falls back to a relaxed plan.

Needs: the driver (../shared/tools/emhass/run_emhass.py), a venv with EMHASS (NOTES.md), and
a build of powerslot (`cargo build -p powerslot`, or only the crate's example:
`cargo build -p powerslot-home --examples [--features highs]`). Usage, from the repository
root:

    python3 crates/home/scripts/day_vs_emhass.py \
        --peer-python /work/peers/emhass/venv/bin/python \
        --driver ../shared/tools/emhass/run_emhass.py \
        --sizes 4,16,64,128 --seeds 1 --gap 0 --time-limit 10 --out /tmp/day_bench

Prints one row per day: loads, battery, EMHASS status / bill / check / seconds, powerslot
status / bill / check / seconds / gap to its proven bound, and the bill difference. EMHASS's
seconds are its optimise call as the driver times it (configuration, model build, solve;
the Python start-up is not counted); powerslot's are the whole process, reading included.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time


def run(cmd: list[str], timeout: float) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.perf_counter() - t0


def check(args, inst: pathlib.Path, plan: dict, path: pathlib.Path) -> dict:
    path.write_text(json.dumps(plan))
    rc, out, _ = run([args.check_python, args.driver, "--instance", str(inst),
                      "--check-plan", str(path)], 120)
    try:
        rep = json.loads(out[out.index("{"):])
    except ValueError:
        return {"violations": [f"check failed: {out[-200:]}"], "bill": float("nan")}
    return rep


def one_day(args, name: str, driver_args: list[str]) -> dict:
    d = pathlib.Path(args.out) / name
    d.mkdir(parents=True, exist_ok=True)
    inst, em_json = d / "instance.json", d / "emhass.json"
    gap = ["--gap", str(args.gap)] if args.gap is not None else []
    if not (args.reuse and em_json.exists()):
        run([args.peer_python, args.driver, *driver_args, *gap,
             "--dump-instance", str(inst), "--json-out", str(em_json)], args.emhass_timeout)
    row = {"day": name}
    em = json.loads(em_json.read_text()) if em_json.exists() else {}
    row["n_loads"] = len(json.loads(inst.read_text())["loads"])
    row["battery"] = json.loads(inst.read_text()).get("battery") is not None
    row["em_status"] = em.get("status", "no result")
    row["em_s"] = (em.get("time_init_s") or 0) + (em.get("time_total_s") or 0)
    if em.get("schedules"):
        plan = {"loads": em["schedules"]}
        if em.get("battery_w") is not None:
            plan["battery_w"] = em["battery_w"]
        rep = check(args, inst, plan, d / "emhass_plan.json")
        row["em_bill"], row["em_viol"] = rep["bill"], len(rep["violations"])
    else:
        row["em_bill"], row["em_viol"] = float("nan"), None

    if args.emhass_only:
        row.update(ps_status="-", ps_bill=float("nan"), ps_viol=None, ps_gap=None, ps_by="-",
                   ps_dropped=[], ps_binding=None, ps_s=float("nan"))
        return row
    if args.powerslot.endswith("day_json"):  # the crate's example: DAY.json TIME_LIMIT [SOLVER]
        ps_cmd = [args.powerslot, str(inst), str(args.time_limit)]
        ps_cmd += [args.solver] if args.solver else []
    else:
        ps_cmd = [args.powerslot, "day", str(inst), "--json", "--time-limit", str(args.time_limit)]
        ps_cmd += ["--solver", args.solver] if args.solver else []
    rc, out, wall = run(ps_cmd, args.time_limit * 4 + 60)
    row["ps_s"] = wall
    if rc == 0:
        plan = json.loads(out)
        (d / "powerslot.json").write_text(out)
        rep = check(args, inst, plan, d / "powerslot_plan.json")
        row.update(ps_status=plan["status"], ps_bill=rep["bill"], ps_viol=len(rep["violations"]),
                   ps_gap=plan["gap"], ps_by=plan["found_by"], ps_dropped=plan["dropped"],
                   ps_binding=plan["binding"], ps_viol_text=rep["violations"][:2])
    else:
        row.update(ps_status=f"error rc={rc}: {out.strip()[-120:]}", ps_bill=float("nan"),
                   ps_viol=None, ps_gap=None, ps_by="-", ps_dropped=[], ps_binding=None)
    return row


def fmt(row: dict) -> str:
    def f(x, spec):
        return "-" if x is None or x != x else format(x, spec)
    gap = row.get("ps_gap")
    diff = (row["ps_bill"] - row["em_bill"]) / abs(row["em_bill"]) * 100 \
        if row["em_bill"] == row["em_bill"] and row["ps_bill"] == row["ps_bill"] and row["em_bill"] else None
    ps = row["ps_status"] + ("" if not row["ps_dropped"] else f" drop {len(row['ps_dropped'])}")
    return (f"| {row['day']:<26} | {row['n_loads']:>3} | {'yes' if row['battery'] else 'no':>4} "
            f"| {row['em_status']:<18} | {f(row['em_bill'], '.4f'):>8} | {f(row['em_viol'], 'd'):>4} "
            f"| {row['em_s']:6.2f} | {ps:<16} | {f(row['ps_bill'], '.4f'):>8} "
            f"| {f(row['ps_viol'], 'd'):>4} | {row['ps_s']:6.2f} | {f(None if gap is None else 100 * gap, '.3f'):>7} "
            f"| {row['ps_by']:<9} | {f(diff, '+.3f'):>7} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-python", required=True, help="python of the EMHASS venv")
    ap.add_argument("--check-python", default=None, help="python for --check-plan (default: peer's)")
    ap.add_argument("--driver", required=True, help="run_emhass.py")
    ap.add_argument("--powerslot", default="target/debug/powerslot",
                    help="the powerslot binary, or the crate's example target/debug/examples/day_json")
    ap.add_argument("--solver", default=None, choices=["microlp", "highs"],
                    help="powerslot's MILP solver (default: HiGHS if built with it, else microlp)")
    ap.add_argument("--sizes", default="4,16,64")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--gap", type=float, default=None, help="EMHASS mip_rel_gap (driver default 0.01)")
    ap.add_argument("--time-limit", type=float, default=10.0, help="powerslot --time-limit, s")
    ap.add_argument("--emhass-timeout", type=float, default=600.0)
    ap.add_argument("--no-cliff", action="store_true", help="skip the all-blocks cliff days")
    ap.add_argument("--out", default="/tmp/day_bench")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse EMHASS results already in --out (same days, same options)")
    ap.add_argument("--emhass-only", action="store_true", help="run only the EMHASS side")
    args = ap.parse_args()
    args.check_python = args.check_python or args.peer_python

    days = [("driver day", []), ("driver day + battery", ["--battery"])]
    for n in [int(x) for x in args.sizes.split(",")]:
        for s in [int(x) for x in args.seeds.split(",")]:
            days.append((f"synthetic {n} s{s}", ["--synthetic", str(n), "--seed", str(s)]))
            days.append((f"synthetic {n} s{s} + battery",
                         ["--synthetic", str(n), "--seed", str(s), "--battery"]))
    if not args.no_cliff:
        for lim in (9000, 8000, 7800):
            days.append((f"64 blocks, limit {lim} W", ["--synthetic", "64", "--all-blocks",
                                                      "--grid-per-load", "0", "--grid-base", str(lim)]))
    print("| day | N | batt | EMHASS status | EMHASS bill | viol | EMHASS s "
          "| powerslot status | powerslot bill | viol | powerslot s | gap % | found by | Δ bill % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, dargs in days:
        row = one_day(args, name.replace(" ", "_").replace(",", "").replace("+", "b"), dargs)
        row["day"] = name
        rows.append(row)
        print(fmt(row), flush=True)
        if row.get("ps_binding"):
            print(f"|   powerslot: binding = {row['ps_binding'][:150]}; dropped {row['ps_dropped']} |")
    (pathlib.Path(args.out) / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
