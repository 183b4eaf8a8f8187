"""The floors of the nightly job, measured on the same data and model as the stages they bound.

    python benchmarks/floors.py --data D --as-of 2026-01-01 --model M/latest [--flagged-share 0.1] [--json OUT]

Each floor is what today's engines need for one part of the work, with nothing of churnml's around it:

- ``read``: every table file read whole with pyarrow (Parquet or CSV), no validation, no conversion to pandas;
- ``predict``: LightGBM's ``Booster.predict`` on the prepared feature matrix of every customer active at the as-of
  date (the matrix is built first and not timed), with the booster's best iteration, as scoring runs it;
- ``explain``: LightGBM's TreeSHAP (``pred_contrib``) on the riskiest ``--flagged-share`` of them (by default the
  model configuration's ``flagging.top_fraction``), the customers the job explains.

``make bench`` runs it as one of its stages and divides each stage's wall time by the floors it stands on
(validate and features: read; score: read + predict + explain), so a stage is always compared with a floor measured
in the same run, on the same machine. The shap package is not a second engine here: its TreeExplainer hands a
LightGBM model to LightGBM's own ``pred_contrib``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnml import io
from churnml.config import parse_config
from churnml.pipeline import build_features


def _read_floor(data: Path) -> tuple[float, int]:
    """Seconds to read every table file whole, and the rows read."""
    started, rows = time.perf_counter(), 0
    for path in sorted(io.find_tables(data).values()):
        table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
        rows += table.num_rows
    return time.perf_counter() - started, rows


def measure(data: Path, as_of: str, model: Path, flagged_share: float | None) -> dict[str, float]:
    read_s, rows = _read_floor(data)
    bundle = io.read_bundle(model)
    config = parse_config(bundle.meta["config"])
    dataset = io.load_dataset(data).dataset
    assert dataset is not None, "a flat dataset folder (a partitioned one is read bucket by bucket)"
    X = bundle.prepare(build_features(dataset, as_of, config))
    del dataset
    iteration = bundle.booster.best_iteration or None
    started = time.perf_counter()
    raw = bundle.booster.predict(X, num_iteration=iteration)
    predict_s = time.perf_counter() - started
    share = flagged_share if flagged_share is not None else (config.flagging.top_fraction or 0.10)
    k = max(1, int(np.ceil(share * len(X))))
    riskiest = X.iloc[np.argsort(-raw, kind="stable")[:k]]
    started = time.perf_counter()
    bundle.booster.predict(riskiest, num_iteration=iteration, pred_contrib=True)
    explain_s = time.perf_counter() - started
    return {
        "read_s": round(read_s, 2),
        "rows_read": rows,
        "predict_s": round(predict_s, 2),
        "active": len(X),
        "explain_s": round(explain_s, 2),
        "explained": k,
        "explained_per_s": round(k / explain_s, 1) if explain_s else float("nan"),
        "trees": bundle.booster.num_trees(),
        "features": X.shape[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--flagged-share", type=float, default=None,
                        help="share of the active customers explained (default: the model's flagging.top_fraction, else 0.1)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    floors = measure(args.data, args.as_of, args.model, args.flagged_share)
    text = json.dumps(floors, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
