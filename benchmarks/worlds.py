"""Train and score on every simulated world with the shipped defaults; one table of risk, calibration and cause at T.

    python benchmarks/worlds.py                                   # every world, seeds 1 and 2, 20,000 customers
    python benchmarks/worlds.py --worlds default,price_led --seeds 1 --customers 20000 --jobs 2

Each world is a generator preset that changes how churn comes about (see ``churnml.synth.worlds``). The model is
trained on everything knowable at T with the default configuration and no per-world tuning, then the scores file for
T is compared with the generator's truth by :func:`churnml.modeling.evaluate.evaluate_at`. Results print as a
Markdown table for BENCHMARKS.md and are saved to WORKDIR/worlds.json.

``--ceiling`` adds ``ceiling_ratio``: what the features at T can tell about cause when the answer is given. A
LightGBM classifier learns the oracle's cause at T from the same features on half of the customers (weighted by
their risk, two folds, each customer named by the fold that did not see it), and is scored like the model on the
same flagged leavers. No real export carries cause labels, so this is not a method churnml can ship: it estimates how
much of the oracle's accuracy the inputs make knowable. One classifier on half the customers with fixed settings is
an estimate, not an upper bound: the model's own figure can beat it on a run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

AS_OF = "2025-10-01"
COLUMNS = [
    ("world", "{}"),
    ("seed", "{}"),
    ("auc_ratio", "{:.3f}"),
    ("ece", "{:.4f}"),
    ("mean_predicted", "{:.4f}"),
    ("observed", "{:.4f}"),
    ("flagged_leavers", "{}"),
    ("cause_accuracy", "{:.3f}"),
    ("oracle_cause_accuracy", "{:.3f}"),
    ("cause_accuracy_ratio", "{:.3f}"),
    ("price_recall", "{:.2f}"),
    ("price_oracle_recall", "{:.2f}"),
    ("service_recall", "{:.2f}"),
    ("service_oracle_recall", "{:.2f}"),
    ("price_share", "{:.2f}"),
    ("price_oracle_share", "{:.2f}"),
    ("service_share", "{:.2f}"),
    ("service_oracle_share", "{:.2f}"),
]
CEILING = ("ceiling_ratio", "{:.3f}")


def cause_ceiling(features: pd.DataFrame, bundle, oracle: pd.DataFrame, scores: pd.DataFrame, truth: pd.DataFrame,
                  t: pd.Timestamp, horizon_days: int) -> float:
    """Cause accuracy / oracle's of a classifier taught the oracle's cause at T (see the module docstring)."""
    import lightgbm as lgb
    import numpy as np

    from churnml.modeling.evaluate import evaluate_at

    at_t = oracle[oracle["as_of_date"] == t].set_index("customer_id")
    X = bundle.prepare(features)
    X = X.loc[X.index.intersection(at_t.index)]
    causes = np.array(["price", "service", "other"])
    y = at_t.loc[X.index, "oracle_cause"].map({c: k for k, c in enumerate(causes)}).to_numpy()
    weight = at_t.loc[X.index, ["hazard_price", "hazard_service", "hazard_other"]].sum(axis=1).to_numpy()
    fold = np.random.default_rng(0).integers(0, 2, len(X))
    named = np.empty(len(X), dtype=object)
    for k in (0, 1):
        model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=50, verbose=-1, n_jobs=1)
        model.fit(X[fold != k], y[fold != k], sample_weight=weight[fold != k])
        named[fold == k] = causes[model.predict(X[fold == k])]
    taught = scores.assign(primary_cause=pd.Series(named, index=X.index).reindex(scores["customer_id"]).to_numpy())
    return float(evaluate_at(taught, truth, oracle, t, horizon_days)["cause_accuracy_ratio"])


def run_world(world: str, seed: int, customers: int, as_of: str, threads: int, config: str | None = None,
              ceiling: bool = False) -> dict[str, object]:
    """Generate, train at T, score T and compare with the truth; the pipeline's public functions only."""
    from churnml.config import load_config
    from churnml.dataset import Dataset
    from churnml.features import feature_registry
    from churnml.labels import training_snapshots
    from churnml.modeling.evaluate import evaluate_at
    from churnml.modeling.train import train_model
    from churnml.pipeline import score as score_dataset
    from churnml.synth import generate, world_config

    started = time.perf_counter()
    data = generate(customers, seed=seed, config=world_config(world))
    dataset = Dataset.from_frames(data.tables)
    base = load_config(config)
    cfg = base.model_copy(
        update={
            "tracking": base.tracking.model_copy(update={"enabled": False}),
            "model": base.model.model_copy(update={"num_threads": threads}),
        }
    )
    t = pd.Timestamp(as_of)
    known = dataset.known_at(t)
    snaps = training_snapshots(known, t, cfg)
    statics = dict(known.customers.drop(columns="customer_id").dtypes)
    families = {n: s.family for n, s in feature_registry(cfg, statics).items()}
    bundle = train_model(snaps, cfg, families, as_of=t).bundle
    bundle.meta["version"] = f"{world}-{seed}"
    scores = score_dataset(dataset, t, bundle, cfg).scores
    out = {"world": world, "seed": seed, **evaluate_at(scores, data.truth, data.oracle, t, cfg.labels.horizon_days)}
    if ceiling:
        from churnml.pipeline import build_features

        features = build_features(dataset, t, cfg)
        out["ceiling_ratio"] = cause_ceiling(features, bundle, data.oracle, scores, data.truth, t, cfg.labels.horizon_days)
    out["trees"] = bundle.booster.best_iteration or bundle.booster.num_trees()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _table(rows: list[dict[str, object]]) -> str:
    columns = [*COLUMNS, CEILING] if rows and CEILING[0] in rows[0] else COLUMNS
    head = "| " + " | ".join(c for c, _ in columns) + " |"
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(fmt.format(r[c]) for c, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def main() -> None:
    from churnml.synth import WORLDS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default=",".join(WORLDS), help="comma-separated world names")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1) // 2), help="worlds run at once")
    parser.add_argument("--workdir", default="data/bench-worlds")
    parser.add_argument("--config", default=None, help="a churnml config file (default: the shipped defaults)")
    parser.add_argument("--ceiling", action="store_true", help="also measure cause accuracy of a classifier taught the oracle's cause")
    args = parser.parse_args()
    worlds = [w for w in args.worlds.split(",") if w]
    unknown = sorted(set(worlds) - set(WORLDS))
    if unknown:
        parser.error(f"unknown world(s) {', '.join(unknown)}; choose from {', '.join(WORLDS)}")
    jobs = [(w, int(s)) for w in worlds for s in args.seeds.split(",") if s]
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_world, w, s, args.customers, args.as_of, threads, args.config, args.ceiling) for w, s in jobs]
        rows = []
        for f in futures:
            rows.append(f.result())
            r = rows[-1]
            print(f"{r['world']} seed {r['seed']}: done in {r['seconds']} s", flush=True)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "worlds.json").write_text(json.dumps(rows, indent=2))
    print()
    print(_table(rows))


if __name__ == "__main__":
    main()
