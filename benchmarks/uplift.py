"""Flagging by whom a remedy saves against flagging by risk, counted with the simulator's true effects.

    python benchmarks/uplift.py --seeds 1,2 --customers 20000 [--world contact_backfires]

Per seed: the ``treatments`` world (a simulated CRM treats the riskiest customers it sees each month, leaves the
nightly job's control group alone, 80% compliance, a quarter of remedies addressed to the wrong cause), or another
treatment world (--world). At --as-of (default 2025-10-01): churnml's churn model and both uplift learners
(:class:`churnml.modeling.uplift.CauseUpliftModel`, :class:`~churnml.modeling.uplift.UpliftModel`, learned from the
same training snapshots and the recorded ``retention_actions``), all from data known then. Every customer active
that day is ranked these ways at the same capacity (flagging.top_fraction of them):

- ``risk``: churnml's calibrated probability, each customer given the remedy of churnml's primary cause (price: an
  offer, service: a call; other: an offer), as the nightly job would;
- ``risk, best remedy``: the same customers, each given the remedy that truly helps them most (an upper bound of
  any risk-based flagging);
- ``true risk, best remedy``: the simulator's own 60-day probability, each given the remedy that truly helps
  most (how far any flagging by risk can go);
- ``uplift (cause)``, ``uplift (t_learner)``: each learner's uplift of the best action, that action given;
- ``oracle``: the true effect of the best remedy.

Saved customers: the sum of the true 60-day effects (the simulator's hazards that month, both months; the
remedy cuts its family's hazard by ``remedy_effect``; ``backfire_share`` of the contacted react badly; where the
oracle says ``contact_backfires``, any contact raises every hazard by ``misfit_backfire_effect``). Qini: the
area between each ranking's cumulative true effect and a random order's, over all active customers, beside the
oracle's. Prints Markdown; JSON to WORKDIR/uplift.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ACTIONS = {"retention_offer": "price", "senior_manager_call": "service"}


def true_effects(oracle: pd.DataFrame, treatments: Any, max_hazard: float) -> pd.DataFrame:
    """Each customer's expected true 60-day effect of each remedy from that month's hazard parts."""
    ho, hp, hs = (oracle[c].to_numpy(dtype=float) for c in ("hazard_other", "hazard_price", "hazard_service"))

    def stay(o: np.ndarray, p: np.ndarray, s: np.ndarray) -> np.ndarray:
        return (1.0 - np.minimum(o + p + s, max_hazard)) ** 2

    base = stay(ho, hp, hs)
    out = {}
    for action, family in ACTIONS.items():
        p = hp * (1 - treatments.remedy_effect) if family == "price" else hp
        s = hs * (1 - treatments.remedy_effect) if family == "service" else hs
        good = stay(ho, p, s) - base
        bad = stay(ho * (1 + treatments.backfire_effect), p, s) - base
        effect = (1 - treatments.backfire_share) * good + treatments.backfire_share * bad
        if "contact_backfires" in oracle:  # on a plan that does not fit, any contact raises every hazard instead
            up = 1 + treatments.misfit_backfire_effect
            effect = np.where(oracle["contact_backfires"].to_numpy(), stay(ho * up, hp * up, hs * up) - base, effect)
        out[action] = effect
    return pd.DataFrame(out, index=oracle["customer_id"].astype(str).to_numpy())


def qini(score: np.ndarray, effect: np.ndarray) -> float:
    """Area between the cumulative true effect in ``score`` order and a random order's, per customer."""
    order = np.argsort(-score, kind="stable")
    gained = np.cumsum(effect[order])
    randomly = np.arange(1, len(effect) + 1) * effect.mean()
    return float((gained - randomly).mean())


def run_seed(seed: int, customers: int, as_of: str, threads: int, world_name: str) -> dict[str, Any]:
    from _setup import churn_model, quiet_config

    from churnml.dataset import Dataset
    from churnml.explain.causes import family_headroom
    from churnml.modeling.uplift import learn_uplift
    from churnml.pipeline import build_features, score
    from churnml.synth import generate, world_config

    started = time.perf_counter()
    world = world_config(world_name)
    data = generate(customers, seed=seed, config=world)
    dataset = Dataset.from_frames(data.tables)
    cfg = quiet_config(threads)
    t = pd.Timestamp(as_of)
    known = dataset.known_at(t)
    bundle, registry, snapshots = churn_model(known, t, cfg)
    learned = {}
    for learner in ("cause", "t_learner"):
        def headroom(X: pd.DataFrame, log_odds: np.ndarray) -> np.ndarray:
            return family_headroom(bundle, X, snapshots, registry, log_odds)

        learned[learner], _ = learn_uplift(snapshots, known.retention_actions, bundle, cfg.monitoring.treatment_window_days,
                                           cfg.monitoring.treatment_washout_days, cfg.uplift.min_treated, num_threads=threads,
                                           headroom=headroom if learner == "cause" else None)

    scored = score(dataset, t, bundle, cfg).scores.set_index("customer_id")
    features = build_features(dataset, t, cfg).reindex(scored.index)
    now = bundle.prepare(features)
    base_now = bundle.predict_log_odds(now)
    headroom_now = family_headroom(bundle, now, features, registry, base_now)
    best = {name: m.best(now, base_now, headroom_now) for name, m in learned.items()}
    truth = data.oracle[data.oracle["as_of_date"] == t]
    effect = true_effects(truth, world.treatments, world.max_hazard).reindex(scored.index)
    assert effect.notna().all().all(), "every scored customer is in the oracle"
    k = int(scored["flagged"].sum())
    n = len(scored)
    cause_action = np.where(scored["primary_cause"].to_numpy() == "service", "senior_manager_call", "retention_offer")
    eff = {a: effect[a].to_numpy() for a in ACTIONS}
    oracle_best = np.maximum(eff["retention_offer"], eff["senior_manager_call"])

    def take(a: np.ndarray) -> np.ndarray:
        return np.where(a == "senior_manager_call", eff["senior_manager_call"], eff["retention_offer"])

    p = scored["churn_probability"].to_numpy()
    by_risk = scored["flagged"].to_numpy()

    def top(score_: np.ndarray) -> np.ndarray:
        chosen = np.zeros(n, bool)
        chosen[np.argsort(-score_, kind="stable")[:k]] = True
        return chosen

    true_risk = truth.set_index(truth["customer_id"].astype(str))["oracle_probability"].reindex(scored.index).to_numpy()
    saved = {
        "risk": float(take(cause_action)[by_risk].sum()),
        "true risk, best remedy": float(oracle_best[top(true_risk)].sum()),
        "risk, best remedy": float(oracle_best[by_risk].sum()),
        **{f"uplift ({name})": float(take(a)[top(u)].sum()) for name, (a, u) in best.items()},
        "oracle": float(oracle_best[top(oracle_best)].sum()),
    }
    return {
        "seed": seed, "as_of": as_of, "active": n, "capacity": k, "saved": saved,
        "vs_risk": {name: saved[f"uplift ({name})"] / saved["risk"] - 1 for name in best},
        "overlap_with_risk": {name: float((top(u) & by_risk).sum() / k) for name, (_, u) in best.items()},
        "qini": {"risk": qini(p, take(cause_action)), **{name: qini(u, take(a)) for name, (a, u) in best.items()},
                 "oracle": qini(oracle_best, oracle_best)},
        "treated_rows": learned["cause"].treated_, "learned_actions": learned["cause"].actions_,
        "cause_model": {"theta": learned["cause"].theta_, "theta_se": learned["cause"].theta_se_, "bias": learned["cause"].bias_},
        "chosen_actions": {name: pd.Series(a[top(u)]).value_counts().to_dict() for name, (a, u) in best.items()},
        "contact_backfires": {"active": float(truth["contact_backfires"].mean()) if "contact_backfires" in truth else 0.0,
                              "risk_flagged": float(truth.set_index(truth["customer_id"].astype(str))["contact_backfires"]
                                                    .reindex(scored.index).to_numpy()[by_risk].mean()) if "contact_backfires" in truth else 0.0},
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--as-of", default="2025-10-01")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default="bench-uplift")
    parser.add_argument("--world", default="treatments")
    args = parser.parse_args()
    results = [run_seed(int(s), args.customers, args.as_of, args.threads, args.world) for s in args.seeds.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "uplift.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    print("| seed | active | capacity | saved: risk | risk, best remedy | true risk, best remedy | uplift (cause) | uplift (T-learner) | oracle "
          "| cause vs risk | T-learner vs risk | Qini risk / cause / T-learner / oracle |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        s, q, v = r["saved"], r["qini"], r["vs_risk"]
        print(f"| {r['seed']} | {r['active']} | {r['capacity']} | {s['risk']:.1f} | {s['risk, best remedy']:.1f} | {s['true risk, best remedy']:.1f} | "
              f"{s['uplift (cause)']:.1f} | {s['uplift (t_learner)']:.1f} | {s['oracle']:.1f} | {v['cause']:+.1%} | {v['t_learner']:+.1%} | "
              f"{q['risk']:.4f} / {q['cause']:.4f} / {q['t_learner']:.4f} / {q['oracle']:.4f} |")
    for r in results:
        print(f"seed {r['seed']}: contact backfires on {r['contact_backfires']}")
        print(f"seed {r['seed']}: treated rows {r['treated_rows']}, cause model {r['cause_model']}, flagged take {r['chosen_actions']}, "
              f"overlap with risk {r['overlap_with_risk']}, {r['seconds']} s")


if __name__ == "__main__":
    main()
