"""Do the measured remedy effects match the simulator's truth? ``churnml outcomes`` on the treatment world.

    python benchmarks/outcomes.py --seeds 1,2 --customers 20000

Per seed: the ``treatments`` world (24 months from 2024-01-01; a simulated CRM flags the riskiest 10% by a noisy
view of the true risk each month, holds out the nightly job's control group, treats 80% of the rest), a model
trained at 2025-01-01 with the defaults, runs scored on the first of each month from January to October 2025 (each
beside the one before, as the nightly job keeps them), and :func:`churnml.pipeline.outcomes` at 2026-01-01. Per
recorded action x primary cause with at least --min-treated treated customers: the measured uplift with its 95%
interval against the true average effect of the same treated customers (the simulator's ``effect_60d``: their
60-day risk without the remedy minus with it); matched against mismatched remedies; the intention-to-treat uplift;
the Qini coefficient of the risk ranking beside the best possible. Prints Markdown; JSON to WORKDIR/outcomes.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

TRAIN_AT = "2025-01-01"
RUNS = pd.date_range("2025-01-01", "2025-10-01", freq="MS")
AS_OF = "2026-01-01"


def run_seed(seed: int, customers: int, threads: int, min_treated: int) -> dict[str, Any]:
    from _setup import churn_model, quiet_config

    from churnml.dataset import Dataset
    from churnml.pipeline import outcomes, score_and_keep
    from churnml.synth import generate, world_config

    started = time.perf_counter()
    data = generate(customers, seed=seed, config=world_config("treatments"))
    dataset = Dataset.from_frames(data.tables)
    cfg = quiet_config(threads)
    t0 = pd.Timestamp(TRAIN_AT)
    known = dataset.known_at(t0)
    bundle, _, _ = churn_model(known, t0, cfg)

    runs, past = [], None
    for t in RUNS:
        _, past = score_and_keep(dataset, t, bundle, cfg, previous=past)
        runs.append((past.run, past.history))
    end = pd.Timestamp(AS_OF)
    found = outcomes(dataset.subscriptions, dataset.retention_actions, runs, end, cfg)

    truth = data.treatments.assign(run=data.treatments["as_of_date"].dt.strftime("%Y-%m-%d"))
    rows = found.rows.merge(truth[["run", "customer_id", "effect_60d", "treated"]].rename(columns={"treated": "crm_treated"}),
                            on=["run", "customer_id"], how="left")
    treated = rows[rows["group"] == "treated"]
    true_effect = treated.groupby(["action", "primary_cause"])["effect_60d"].mean().rename("true_effect").reset_index()
    cells = found.by_action.merge(true_effect, on=["action", "primary_cause"], how="left")
    big = cells[cells["treated"] >= min_treated].copy()
    big["covered"] = (big["uplift_low"] <= big["true_effect"]) & (big["true_effect"] <= big["uplift_high"])
    # Bloom: the intention-to-treat uplift over the share reached, by the run's recommendation, against the true
    # effect on the customers reached.
    reached = treated.assign(action=treated["recommended_action"])
    true_reached = reached.groupby(["action", "primary_cause"])["effect_60d"].agg(true_effect="mean", treated="size").reset_index()
    bloom = found.on_treated.merge(true_reached, on=["action", "primary_cause"], how="left")
    bloom = bloom[bloom["treated"] >= min_treated].copy()
    bloom["covered"] = (bloom["uplift_low"] <= bloom["true_effect"]) & (bloom["true_effect"] <= bloom["uplift_high"])
    return {
        "seed": seed,
        "runs_matured": sorted(found.rows["run"].unique().tolist()),
        "customers": {g: int(n) for g, n in found.rows["group"].value_counts().sort_index().items()},
        "treated_missing_from_truth": int(treated["effect_60d"].isna().sum()),
        "cells": big[["action", "primary_cause", "treated", "control", "uplift", "uplift_low", "uplift_high", "true_effect",
                      "covered"]].to_dict(orient="records"),
        "coverage": float(big["covered"].mean()) if len(big) else None,
        "on_treated": bloom[["action", "primary_cause", "treated", "assigned", "reached_share", "control", "uplift", "uplift_low",
                             "uplift_high", "true_effect", "covered"]].to_dict(orient="records"),
        "on_treated_coverage": float(bloom["covered"].mean()) if len(bloom) else None,
        "matched": found.matched.to_dict(orient="records"),
        "true_matched": {k: float(v) for k, v in treated.assign(kind=treated["action"].map(
            {"retention_offer": "price", "senior_manager_call": "service"}).eq(treated["primary_cause"]).map(
            {True: "matched", False: "mismatched"})).groupby("kind")["effect_60d"].mean().items()},
        "overall": found.overall,
        "intention_to_treat": found.assigned_overall,
        "qini": found.qini,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-treated", type=int, default=200)
    parser.add_argument("--workdir", default="bench-outcomes")
    args = parser.parse_args()
    results = [run_seed(int(s), args.customers, args.threads, args.min_treated) for s in args.seeds.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "outcomes.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    print("| seed | action | cause | treated | control | measured uplift (95% interval) | true effect | covered |\n|---|---|---|---:|---:|---|---:|---|")
    for r in results:
        for c in r["cells"]:
            print(f"| {r['seed']} | {c['action']} | {c['primary_cause']} | {c['treated']} | {c['control']} | {c['uplift']:+.3f} "
                  f"({c['uplift_low']:+.3f} to {c['uplift_high']:+.3f}) | {c['true_effect']:+.3f} | {'yes' if c['covered'] else 'no'} |")
    print()
    print("| seed | recommended | cause | treated | assigned | reached | control | effect on the reached (95% interval) | true effect | covered |\n"
          "|---|---|---|---:|---:|---:|---:|---|---:|---|")
    for r in results:
        for c in r["on_treated"]:
            print(f"| {r['seed']} | {c['action']} | {c['primary_cause']} | {c['treated']} | {c['assigned']} | {c['reached_share']:.0%} | "
                  f"{c['control']} | {c['uplift']:+.3f} ({c['uplift_low']:+.3f} to {c['uplift_high']:+.3f}) | {c['true_effect']:+.3f} | "
                  f"{'yes' if c['covered'] else 'no'} |")
    print()
    for r in results:
        m = {x["remedy"]: x for x in r["matched"]}
        print(f"seed {r['seed']}: runs {r['runs_matured'][0]}..{r['runs_matured'][-1]} ({len(r['runs_matured'])}), customers {r['customers']}; "
              f"coverage {r['coverage']}; matched {m.get('matched', {}).get('uplift', float('nan')):+.3f} vs mismatched "
              f"{m.get('mismatched', {}).get('uplift', float('nan')):+.3f} (true {r['true_matched']}); on the reached: coverage "
              f"{r['on_treated_coverage']}; overall "
              f"{r['overall']['uplift']:+.3f}, intention to treat {r['intention_to_treat']['uplift']:+.3f}; Qini "
              f"{r['qini']['qini']:.4f} (oracle {r['qini']['qini_oracle']:.4f}); {r['seconds']} s")


if __name__ == "__main__":
    main()
