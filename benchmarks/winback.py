"""The win-back list against the generator's truth, on several worlds and seeds, with the shipped defaults.

    python benchmarks/winback.py --worlds default,price_waves --seeds 1,2 --customers 20000

Each run: generate a world, `churnml train` at T, `churnml winback` at T, then
:func:`churnml.modeling.winback.winback_truth_metrics`. Prints one Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from churnml import io
from churnml.config import ChurnConfig
from churnml.modeling.winback import winback_truth_metrics

BIN = Path(sys.executable).parent / "churnml"
COLUMNS = ["return_auc", "oracle_return_auc", "return_auc_ratio", "cause_accuracy", "price_recall", "service_recall",
           "other_recall", "top_tenth_capture", "listed", "returned", "mean_return_probability"]


def _run(*args: str, cwd: Path) -> None:
    proc = subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"churnml {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default="default,price_waves")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--as-of", default="2025-10-01")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="churnml-winback-") as tmp:
        root = Path(tmp)
        (root / "bench.yaml").write_text("tracking:\n  enabled: false\n")
        for world in args.worlds.split(","):
            for seed in args.seeds.split(","):
                work = root / f"{world}-{seed}"
                work.mkdir()
                _run("generate", "--out", "data", "--customers", str(args.customers), "--seed", seed, "--world", world, cwd=work)
                _run("train", "--data", "data", "--as-of", args.as_of, "--config", str(root / "bench.yaml"), "--model-dir", "models", cwd=work)
                _run("winback", "--data", "data", "--as-of", args.as_of, "--model", "models/latest", "--out", "winback.csv", cwd=work)
                table = io.read_winback(work / "winback.csv")
                table["churn_date"] = pd.to_datetime(table["churn_date"])
                truth = pd.read_csv(work / "data" / "truth.csv", dtype={"customer_id": str}, parse_dates=["churn_date", "return_date"])
                m = winback_truth_metrics(table, truth, ChurnConfig().winback.return_window_days)
                rows.append({"world": world, "seed": seed, **{c: m[c] for c in COLUMNS}})
                print(f"{world} {seed}: " + ", ".join(f"{c} {m[c]:.3f}" for c in COLUMNS), flush=True)
    frame = pd.DataFrame(rows)
    print()
    print("| " + " | ".join(frame.columns) + " |")
    print("|" + "---|" * len(frame.columns))
    for r in frame.itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
