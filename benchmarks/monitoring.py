"""Monitoring measured on the world with changes on known dates (``known_changes``): train before the changes, score
monthly with a run history, and check what the nightly job reports against what the generator did.

    python benchmarks/monitoring.py --seeds 1,2 --customers 20000

The world (from 2024-01-01): an incident wave hitting most of the largest region in June 2025, a 15% list-price rise
to the first plan in July 2025, the surveys export stopping from August 2025. The model is trained at 2025-04-01;
runs are scored on the first of each month from April to October 2025, each compared with the one before. Per
shock, at the first run after it: the features newly drifted (PSI >= monitoring.psi_drift, not drifted the run
before) against the features computed from the table the shock touched; whether the broken feed is named; and,
for the wave, the change cause of the flagged customers it hit. Per matured run: the expected ROC-AUC (from the
calibrated probabilities alone) against the realised one. Results print as Markdown and go to WORKDIR/monitoring.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

TRAIN_AT = "2025-04-01"
RUNS = pd.date_range("2025-04-01", "2025-10-01", freq="MS")
SHOCKS = {  # shock -> (the first run after it, the tables it touches)
    "incident wave": ("2025-07-01", ("tech_faults", "support_contacts")),
    "plan price rise": ("2025-08-01", ("price_changes",)),
    "surveys feed stops": ("2025-09-01", ("surveys",)),
}


def run_seed(seed: int, customers: int, threads: int) -> dict[str, object]:
    from _setup import churn_model, quiet_config

    from churnml.dataset import Dataset
    from churnml.pipeline import backtest, score_and_keep
    from churnml.synth import generate, world_config

    started = time.perf_counter()
    data = generate(customers, seed=seed, config=world_config("known_changes"))
    dataset = Dataset.from_frames(data.tables)
    cfg = quiet_config(threads)
    t0 = pd.Timestamp(TRAIN_AT)
    known = dataset.known_at(t0)
    bundle, registry, _ = churn_model(known, t0, cfg)

    runs, past = {}, None
    for t in RUNS:
        result, past = score_and_keep(dataset, t, bundle, cfg, previous=past)
        runs[str(t.date())] = result

    # What each shock really moved: the same seed's world without shocks at the same date is the counterfactual;
    # a feature is touched when its distribution differs between the two worlds (PSI >= psi_watch, reference bins).
    from churnml.monitoring import bin_counts, psi
    from churnml.pipeline import build_features

    plain = Dataset.from_frames(generate(customers, seed=seed).tables)
    reference = bundle.meta["reference"]
    truly: dict[str, set[str]] = {}
    for shock, (when, _) in SHOCKS.items():
        counterfactual = bin_counts(bundle.prepare(build_features(plain, when, cfg)), reference)
        actual = runs[when].monitoring["bin_counts"]
        truly[shock] = {n for n, c in counterfactual.items()
                        if psi(np.asarray(c, float) / max(1, np.sum(c)), actual[n]) >= cfg.monitoring.psi_watch}

    out: dict[str, object] = {"seed": seed}
    drifted = {d: set(r.monitoring.get("drifted_features") or []) for d, r in runs.items()}
    dates = list(runs)
    for shock, (when, tables) in SHOCKS.items():
        before = dates[dates.index(when) - 1]
        new = drifted[when] - drifted[before]
        touched = {n for n in bundle.feature_names if n in registry and any(tb in registry[n].source for tb in tables)}
        hits = new & touched
        moved = set(runs[when].monitoring.get("moved_since_previous") or [])
        moved_before = set(runs[before].monitoring.get("moved_since_previous") or [])
        real = truly[shock]
        flagged_now = new | moved
        out[shock] = {
            "really_moved": sorted(real), "flagged": sorted(flagged_now),
            "real_recall": len(flagged_now & real) / len(real) if real else None,
            "real_precision": len(flagged_now & real) / len(flagged_now) if flagged_now else None,
            "newly_drifted": sorted(new), "touched": len(touched), "recall": len(hits) / len(touched) if touched else None,
            "precision": len(hits) / len(new) if new else None,
            "moved": sorted(moved), "moved_recall": len(moved & touched) / len(touched) if touched else None,
            "moved_precision": len(moved & touched) / len(moved) if moved else None, "moved_the_run_before": len(moved_before),
            "feeds_named": [f["table"] for f in runs[when].monitoring.get("feeds", []) if f.get("kind") == "fell"],
            "feeds_named_before": [f["table"] for f in runs[before].monitoring.get("feeds", []) if f.get("kind") == "fell"],
        }
    # The wave's customers: hit in June 2025 by an outage of the struck region; their change cause on 2025-07-01.
    faults = data.tables["tech_faults"]
    june = faults[(faults["timestamp"] >= "2025-06-01") & (faults["timestamp"] < "2025-07-01") & faults["incident_id"].notna()]
    sizes = june.groupby("incident_id")["customer_id"].nunique()
    wave_ids = set(june[june["incident_id"].isin(sizes.nlargest(3).index)]["customer_id"])
    s = runs["2025-07-01"].scores
    hit = s[s["flagged"] & s["customer_id"].isin(wave_ids) & (s["change_cause"] != "")]
    out["wave_flagged_with_a_change"] = len(hit)
    out["wave_change_cause_service"] = float((hit["change_cause"] == "service").mean()) if len(hit) else None
    newest = max(f[c].max() for n, f in data.tables.items() for c in f.columns if c in ("timestamp",))
    table = backtest(dataset.subscriptions, [({"as_of": d, **runs[d].monitoring, "horizon_days": cfg.labels.horizon_days,
                                               "grace_days": cfg.labels.grace_days}, runs[d].history) for d in dates],
                     pd.Timestamp(newest), cfg)
    matured = table[table["matured"]]
    out["auc"] = [{"as_of": r.as_of, "expected": round(r.expected_roc_auc, 4), "realised": round(r.roc_auc, 4),
                   "gap": round(abs(r.expected_roc_auc - r.roc_auc), 4)} for r in matured.itertuples()]
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default="bench-monitoring")
    args = parser.parse_args()
    results = [run_seed(int(s), args.customers, args.threads) for s in args.seeds.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "monitoring.json").write_text(json.dumps(results, indent=2, default=str) + "\n")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    tables = [
        ("| seed | shock | touched | newly drifted vs training: n / recall / precision | moved since the previous run: n / "
         "recall / precision (n the run before) | feed named broken | the run before |\n|---|---|---:|---|---|---|---|",
         lambda x: f"{x['touched']} | {len(x['newly_drifted'])} / {fmt(x['recall'])} / {fmt(x['precision'])} | "
                   f"{len(x['moved'])} / {fmt(x['moved_recall'])} / {fmt(x['moved_precision'])} ({x['moved_the_run_before']}) | "
                   f"{', '.join(x['feeds_named']) or '-'} | {', '.join(x['feeds_named_before']) or '-'} |"),
        ("| seed | shock | features the shock moved (PSI >= 0.1 against the same world without it) | flagged (newly drifted "
         "or moved since the previous run) | recall | precision |\n|---|---|---:|---:|---:|---:|",
         lambda x: f"{len(x['really_moved'])} | {len(x['flagged'])} | {fmt(x['real_recall'])} | {fmt(x['real_precision'])} |"),
    ]
    for header, cells in tables:
        print(header)
        for r in results:
            for shock in SHOCKS:
                print(f"| {r['seed']} | {shock} | {cells(r[shock])}")
        print()
    for r in results:
        print(f"seed {r['seed']}: wave customers flagged with a change {r['wave_flagged_with_a_change']}, change cause service "
              f"{r['wave_change_cause_service']}; expected vs realised ROC-AUC: "
              + "; ".join(f"{a['as_of']} {a['expected']:.3f}/{a['realised']:.3f}" for a in r["auc"]) + f" ({r['seconds']} s)")


if __name__ == "__main__":
    main()
