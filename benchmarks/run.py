"""Wall time and peak memory of each pipeline stage, each run as its own `churnml` process.

    python benchmarks/run.py --customers 1000000 --stages generate,validate,features
    python benchmarks/run.py --stages generate-train,train,score   # train on 200k x 12 snapshots, score 1M

Stages: generate / validate / features / score / winback use the --customers dataset; generate-train / train use the
--train-customers dataset (training reads 12 monthly snapshots of it); score and winback use the model train wrote.

Peak memory is the child's maximum resident set size from os.wait4, so one stage never inherits another's
peak. Results print as a Markdown table for BENCHMARKS.md and are saved to WORKDIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

BIN = Path(sys.executable).parent / "churnml"


def _commands(stage: str, args: argparse.Namespace, data: Path, train_data: Path) -> list[str]:
    work = Path(args.workdir)
    return {
        "generate": [str(BIN), "generate", "--out", str(data), "--customers", str(args.customers), "--seed", "1", "--months", str(args.months), "--format", args.format],
        "validate": [str(BIN), "validate", "--data", str(data), "--rejects", str(work / "rejects")],
        "features": [str(BIN), "features", "--data", str(data), "--as-of", args.as_of, "--out", str(work / "features.parquet")],
        "generate-train": [str(BIN), "generate", "--out", str(train_data), "--customers", str(args.train_customers), "--seed", "2", "--months", str(args.months), "--format", args.format],
        "train": [str(BIN), "train", "--data", str(train_data), "--as-of", args.as_of, "--model-dir", str(work / "models")],
        "score": [str(BIN), "score", "--data", str(data), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "scores.csv")],
        "winback": [str(BIN), "winback", "--data", str(data), "--as-of", args.as_of, "--model", str(work / "models" / "latest"), "--out", str(work / "winback.csv")],
    }[stage]


def _customers_of(stage: str, args: argparse.Namespace) -> int:
    return args.train_customers if stage in ("generate-train", "train") else args.customers


def _measure(cmd: list[str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    return {"command": " ".join(cmd), "exit": code, "wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--train-customers", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--stages", default="generate,validate")
    parser.add_argument("--as-of", default="2026-01-01")
    parser.add_argument("--workdir", default=".bench")
    args = parser.parse_args()
    work = Path(args.workdir)
    data = work / f"data-{args.customers}"
    train_data = work / f"train-{args.train_customers}"
    for stage, folder in (("generate", data), ("generate-train", train_data)):
        if stage in args.stages.split(",") and folder.exists():
            shutil.rmtree(folder)
    work.mkdir(parents=True, exist_ok=True)
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
    print("| stage | customers | wall time (s) | peak RSS (GB) | command |\n|---|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['stage']} | {r['customers']:,} | {r['wall_s']} | {r['peak_rss_gb']} | `{r['command']}` |")
    previous = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {"results": []}
    merged = {r["stage"]: r for r in previous.get("results", [])} | {r["stage"]: r for r in results}
    (work / "results.json").write_text(json.dumps({"machine": machine, "date": str(date.today()), "results": list(merged.values())}, indent=2))
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
