"""Wall time and peak memory of each pipeline stage, each run as its own `churnml` process.

    python benchmarks/run.py --customers 1000000 --stages generate,validate,features
    python benchmarks/run.py --stages generate-train,train,score   # train on 200k x 12 snapshots, score 1M

    python benchmarks/run.py --customers 10000000 --partitions 40 --stages generate-parts,generate-train,train,score-cluster

Stages: generate / validate / features / score / winback use the --customers dataset; generate-train / train use the
--train-customers dataset (training reads 12 monthly snapshots of it); score and winback use the model train wrote.
generate-parts writes the --customers dataset partitioned (`generate --partitions`), one region at a time;
score-buckets scores it in this process bucket by bucket, score-cluster on a LocalCluster of --workers processes.
floors (benchmarks/floors.py) measures, on the --customers dataset and the trained model, what today's engines need
with nothing around them: reading every table with pyarrow, LightGBM's predict for every active customer and its
TreeSHAP for the riskiest tenth. Each stage is then also shown as a multiple of the floors it stands on (validate,
features, winback: read; score: read + predict + explain), all measured in the same run.

Peak memory is the child's maximum resident set size from os.wait4 (the largest of its process tree), so one stage
never inherits another's peak; the process tree is also sampled every 0.2 s, which gives the peak of each process
(driver, each Dask worker). Results print as a Markdown table for BENCHMARKS.md and are saved to
WORKDIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

BIN = Path(sys.executable).parent / "churnml"


def _commands(stage: str, args: argparse.Namespace, data: Path, train_data: Path) -> list[str]:
    work = Path(args.workdir)
    parts = work / f"parts-{args.customers}"
    return {
        "generate-parts": [str(BIN), "generate", "--out", str(parts), "--customers", str(args.customers), "--seed", "1", "--months", str(args.months), "--partitions", str(args.partitions)],
        "score-buckets": [str(BIN), "score", "--data", str(parts), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "scores-buckets.csv")],
        "score-cluster": [str(BIN), "score", "--data", str(parts), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "scores-cluster.csv"),
                          "--engine", "dask", "--scheduler", f"local:{args.workers}"],
        "generate": [str(BIN), "generate", "--out", str(data), "--customers", str(args.customers), "--seed", "1", "--months", str(args.months), "--format", args.format],
        "validate": [str(BIN), "validate", "--data", str(data), "--rejects", str(work / "rejects")],
        "features": [str(BIN), "features", "--data", str(data), "--as-of", args.as_of, "--out", str(work / "features.parquet")],
        "generate-train": [str(BIN), "generate", "--out", str(train_data), "--customers", str(args.train_customers), "--seed", "2", "--months", str(args.months), "--format", args.format],
        "train": [str(BIN), "train", "--data", str(train_data), "--as-of", args.as_of, "--model-dir", str(work / "models")],
        "score": [str(BIN), "score", "--data", str(data), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "scores.csv")],
        "winback": [str(BIN), "winback", "--data", str(data), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "winback.csv")],
        "floors": [sys.executable, str(Path(__file__).with_name("floors.py")), "--data", str(data), "--as-of", args.as_of,
                   "--model", str(work / "models" / "latest"), "--json", str(work / "floors.json")],
    }[stage]


# Which floors each stage stands on (see benchmarks/floors.py).
FLOORS = {"validate": ("read_s",), "features": ("read_s",), "winback": ("read_s",), "score": ("read_s", "predict_s", "explain_s")}


def _floor_of(stage: str, floors: dict | None) -> float | None:
    if not floors or stage not in FLOORS:
        return None
    return sum(floors[k] for k in FLOORS[stage])


def _customers_of(stage: str, args: argparse.Namespace) -> int:
    return args.train_customers if stage in ("generate-train", "train") else args.customers


def _sample_tree(pid: int, peaks: dict[int, tuple[str, int]], done: threading.Event) -> None:
    """Peak RSS of every process under ``pid`` (the driver and, on a LocalCluster, its nanny and worker processes)."""
    import psutil

    root = psutil.Process(pid)
    while not done.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for proc in procs:
            try:
                rss = proc.memory_info().rss
                role = "driver" if proc.pid == pid else ("worker" if "spawn_main" in " ".join(proc.cmdline()) else proc.name())
            except psutil.Error:
                continue
            if rss > peaks.get(proc.pid, ("", 0))[1]:
                peaks[proc.pid] = (role, rss)
        done.wait(0.2)


def _measure(cmd: list[str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peaks: dict[int, tuple[str, int]] = {}
    done = threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(proc.pid, peaks, done), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    per_process = sorted(((role, round(rss / 1024**3, 2)) for role, rss in peaks.values()), key=lambda r: -r[1])
    return {"command": " ".join(cmd), "exit": code, "wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 2),
            "peak_rss_gb_per_process": per_process[:8]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--train-customers", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--stages", default="generate,validate")
    parser.add_argument("--as-of", default="2026-01-01")
    parser.add_argument("--workdir", default=".bench")
    parser.add_argument("--partitions", type=int, default=40, help="regions and buckets of generate-parts")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of score-cluster's LocalCluster")
    args = parser.parse_args()
    work = Path(args.workdir)
    data = work / f"data-{args.customers}"
    train_data = work / f"train-{args.train_customers}"
    for stage, folder in (("generate", data), ("generate-train", train_data), ("generate-parts", work / f"parts-{args.customers}")):
        if stage in args.stages.split(",") and folder.exists():
            shutil.rmtree(folder)
    work.mkdir(parents=True, exist_ok=True)
    if "floors" in args.stages.split(","):
        (work / "floors.json").unlink(missing_ok=True)  # never divide by an earlier run's floors
    results = []
    for stage in args.stages.split(","):
        print(f"== {stage}", flush=True)
        res = {"stage": stage, "customers": _customers_of(stage, args), **_measure(_commands(stage, args, data, train_data))}
        results.append(res)
        if res["exit"] != 0:
            print(f"{stage} failed with exit {res['exit']}", file=sys.stderr)
            break
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB RAM, Python {platform.python_version()}"
    print(f"\nMachine: {machine}; date: {date.today()}\n")
    floors_file = work / "floors.json"
    measured = any(r["stage"] == "floors" and r["exit"] == 0 for r in results)
    floors = json.loads(floors_file.read_text()) if measured and floors_file.exists() else None
    if floors:
        print(f"Floors: read {floors['read_s']} s ({floors['rows_read']:,} rows), predict {floors['predict_s']} s "
              f"({floors['active']:,} active), explain {floors['explain_s']} s ({floors['explained']:,} customers, "
              f"{floors['explained_per_s']:,.0f}/s; {floors['trees']} trees, {floors['features']} features)\n")
    print("| stage | customers | wall time (s) | floor (s) | x floor | peak RSS (GB) | peak RSS per process (GB) | command |\n"
          "|---|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        per = ", ".join(f"{role} {gb}" for role, gb in r["peak_rss_gb_per_process"])
        floor = _floor_of(r["stage"], floors)
        r["floor_s"], r["x_floor"] = (round(floor, 2), round(r["wall_s"] / floor, 2)) if floor else (None, None)
        floor_cells = f"{r['floor_s']} | {r['x_floor']}" if floor else " | "
        print(f"| {r['stage']} | {r['customers']:,} | {r['wall_s']} | {floor_cells} | {r['peak_rss_gb']} | {per} | `{r['command']}` |")
    previous = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {"results": []}
    merged = {r["stage"]: r for r in previous.get("results", [])} | {r["stage"]: r for r in results}
    (work / "results.json").write_text(json.dumps({"machine": machine, "date": str(date.today()), "results": list(merged.values())}, indent=2))
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
