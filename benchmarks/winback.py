"""The win-back list against the generator's truth, on several worlds and seeds, with the shipped defaults.

    python benchmarks/winback.py --worlds default,price_waves --seeds 1,2 --customers 20000

Each run: generate a world, `churnml train` at T, `churnml winback` at T, then
:func:`churnml.modeling.winback.winback_truth_metrics`. Prints one Markdown table for BENCHMARKS.md.

``--ceiling`` adds what the features can tell about the cause at churn when the answer is given: a LightGBM
classifier learns the planted cause of up to 4,000 earlier churners (churned at least 60 days before T) from the
churn model's features the night before they left, then names the cause of the listed customers from theirs
(``ceiling_accuracy`` and ``ceiling_<cause>_recall``). No export records why customers left, so it is a bound on what
reading the churn model can reach, not a method; it is an estimate (one classifier, fixed settings, a few thousand
examples), not an upper bound, and the list's own figures can beat it on a run.
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
CEILING = ["ceiling_accuracy", "ceiling_price_recall", "ceiling_service_recall", "ceiling_other_recall"]
COLUMNS = ["return_auc", "oracle_return_auc", "return_auc_ratio", "cause_accuracy", "price_recall", "service_recall",
           "other_recall", "top_tenth_capture", "listed", "returned", "mean_return_probability"]


def _run(*args: str, cwd: Path) -> None:
    proc = subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"churnml {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def cause_ceiling(data_dir: Path, table: pd.DataFrame, truth: pd.DataFrame, as_of: str) -> dict[str, float]:
    """Cause accuracy and recall per cause on the listed customers of a classifier taught the planted cause."""
    import lightgbm as lgb
    import numpy as np

    from churnml.modeling.winback import features_at_dates

    t = pd.Timestamp(as_of)
    config = ChurnConfig()
    dataset = io.load_dataset(data_dir).dataset
    assert dataset is not None
    known = dataset.known_at(t)
    first = truth["churn_date"].min() + pd.Timedelta(days=180)  # a history of a few months behind every row
    earlier = truth[(truth["churn_date"] >= first) & (truth["churn_date"] < t - pd.Timedelta(days=60))]
    earlier = earlier.sample(min(len(earlier), 4000), random_state=0)
    listed = table[["customer_id", "churn_date"]].merge(truth[["customer_id", "churn_date", "cause"]], on=["customer_id", "churn_date"])
    if listed.empty or earlier.empty:
        return {c: float("nan") for c in CEILING}

    def night_before(rows: pd.DataFrame) -> pd.DataFrame:
        dated = rows[["customer_id"]].assign(feature_date=(rows["churn_date"] - pd.Timedelta(days=1)).dt.normalize())
        X = features_at_dates(known, dated.reset_index(drop=True), config)
        return X.select_dtypes(include=["number", "category"])

    X_train, X_listed = night_before(earlier), night_before(listed)
    for c in X_train.columns:  # one set of levels for both frames
        if isinstance(X_train[c].dtype, pd.CategoricalDtype):
            levels = X_train[c].cat.categories.union(X_listed[c].cat.categories)
            X_train[c], X_listed[c] = X_train[c].cat.set_categories(levels), X_listed[c].cat.set_categories(levels)
    model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=30, verbose=-1, n_jobs=1)
    model.fit(X_train, earlier["cause"].to_numpy())
    named, cause = model.predict(X_listed[X_train.columns]), listed["cause"].to_numpy()
    out = {"ceiling_accuracy": float(np.mean(named == cause))}
    for c in ("price", "service", "other"):
        out[f"ceiling_{c}_recall"] = float(np.mean(named[cause == c] == c)) if (cause == c).any() else float("nan")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default="default,price_waves")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--as-of", default="2025-10-01")
    parser.add_argument("--ceiling", action="store_true", help="also measure a classifier taught the planted cause at churn")
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
                if args.ceiling:
                    m.update(cause_ceiling(work / "data", table, truth, args.as_of))
                columns = [c for c in [*COLUMNS, *CEILING] if c in m]
                rows.append({"world": world, "seed": seed, **{c: m[c] for c in columns}})
                print(f"{world} {seed}: " + ", ".join(f"{c} {m[c]:.3f}" for c in columns), flush=True)
    frame = pd.DataFrame(rows)
    print()
    print("| " + " | ".join(frame.columns) + " |")
    print("|" + "---|" * len(frame.columns))
    for r in frame.itertuples(index=False):
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
