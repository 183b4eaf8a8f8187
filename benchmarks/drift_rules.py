"""Drift flagging rules measured across many simulated worlds: which rule and thresholds name the features a change
really moved, without false alarms in months without one, on every world rather than on one.

    python benchmarks/drift_rules.py --seeds 1,2,3,4,5,6 --customers 10000

Per seed, the default world without shocks is generated, a model trained at 2025-04-01 and runs scored on the first
of each month from April to October 2025, each with the run before as its previous run (as the nightly job does).
Each shock variant (VARIANTS: incident waves, plan list-price rises, feeds that stop, of several sizes and dates) is
the same seed's world with one change on a known date: everything before that month is the same world, so the model
trained on the world without shocks is the model of every variant. A variant is scored at the run before its shock
(which must count exactly what the world without shocks counted) and, with that run as previous, at the first run
after the shock (the shock run).

Recorded per run and feature: PSI against the training reference, the PSI of tonight's counts against the previous
run's (``psi_since_previous``) and, at a shock run, the PSI against the same seed's world without the shock at the
same date, in the reference bins. A feature really moved when that is >= --moved (0.1) and it is computed from a
table the shock acts on; a move elsewhere is the generator's random stream taking another course after the shock (a
routine regional incident striking another region), reported beside it. Rules are evaluated offline on these
numbers, for x, y in GRID: (a) PSI vs training >= x and not >= x the run before (newly drifted), (b)
psi_since_previous >= y, (c) (a) or (b); and, for k in FACTORS, (b) and (c) with y per feature: max(y, k x the feature's
usual month-to-month PSI in training, stored in the bundle's reference). The shipped rule is newly drifted at
monitoring.psi_drift (0.2) or moved at max(monitoring.psi_watch, monitoring.move_factor x usual). Per rule:
recall and precision against the really moved features at the shock runs (pooled over every shock world, the worst
variant pooled over seeds, the worst world), the share of shock worlds where both reach 0.8, false flags per run on
the worlds without shocks (every run with a previous run), and the best rule chosen on the first half of the seeds
measured on the other half. The noise floor is the PSI between two independent seeds' worlds without shocks at the
same date, in the first seed's reference bins. The prediction's own entry is not a feature and is left out, as the
shipped rule leaves it out. Results print as Markdown and go to WORKDIR/drift_rules.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TRAIN_AT = "2025-04-01"
RUNS = [str(d.date()) for d in pd.date_range("2025-04-01", "2025-10-01", freq="MS")]
START = pd.Timestamp("2024-01-01")  # the generator's month 0: shock months count from it
GRID = (0.05, 0.1, 0.15, 0.2, 0.25)
TARGET = 0.8  # recall and precision a rule must reach
PROBABILITY = "churn_probability"
# name -> (what changes, the tables it acts on, churnml.synth.config.Shocks fields); month 16 = May 2025.
VARIANTS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "wave_small": ("1 outage hitting 40% of the largest region (north), Jun 2025", ("tech_faults", "support_contacts", "complaints"),
                   {"incident_wave_month": 17, "incident_wave_outages": 1, "incident_wave_share": 0.4}),
    "wave_large": ("3 outages hitting 80% of north, Jun 2025 (as known_changes)", ("tech_faults", "support_contacts", "complaints"),
                   {"incident_wave_month": 17, "incident_wave_outages": 3, "incident_wave_share": 0.8}),
    "wave_west": ("3 outages hitting 80% of west (12% of customers), Aug 2025", ("tech_faults", "support_contacts", "complaints"),
                  {"incident_wave_month": 19, "incident_wave_region": 3, "incident_wave_outages": 3, "incident_wave_share": 0.8}),
    "rise_5": ("5% list-price rise to basic_5gb, Jul 2025", ("price_changes", "support_contacts", "complaints"),
               {"plan_rise_month": 18, "plan_rise_plan": 0, "plan_rise_pct": 0.05}),
    "rise_15": ("15% list-price rise to basic_5gb, Jul 2025 (as known_changes)", ("price_changes", "support_contacts", "complaints"),
                {"plan_rise_month": 18, "plan_rise_plan": 0, "plan_rise_pct": 0.15}),
    "rise_15_plus": ("15% list-price rise to plus_20gb, May 2025", ("price_changes", "support_contacts", "complaints"),
                     {"plan_rise_month": 16, "plan_rise_plan": 1, "plan_rise_pct": 0.15}),
    "rise_10_unlimited": ("10% list-price rise to unlimited, Sep 2025", ("price_changes", "support_contacts", "complaints"),
                          {"plan_rise_month": 20, "plan_rise_plan": 3, "plan_rise_pct": 0.10}),
    "stop_surveys": ("surveys export stops from Aug 2025 (as known_changes)", ("surveys",),
                     {"feed_stop_month": 19, "feed_stop_table": "surveys"}),
    "stop_contacts": ("support_contacts export stops from Jun 2025", ("support_contacts",),
                      {"feed_stop_month": 17, "feed_stop_table": "support_contacts"}),
    "stop_complaints": ("complaints export stops from Sep 2025", ("complaints",),
                        {"feed_stop_month": 20, "feed_stop_table": "complaints"}),
    "stop_faults": ("tech_faults export stops from Jul 2025", ("tech_faults",),
                    {"feed_stop_month": 18, "feed_stop_table": "tech_faults"}),
}
# (x: newly drifted vs training, y: moved since the previous run, k: y raised to k x the feature's usual monthly move)
Rule = tuple[float | None, float | None, float | None]
FACTORS = (1.5, 2.0, 3.0)


def _shock_run(spec: dict[str, Any]) -> str:
    """The first run after a shock: the first of the month after the shock's month."""
    month = next(v for k, v in spec.items() if k.endswith("_month"))
    return str((START + pd.DateOffset(months=month + 1)).date())


def _numbers(result) -> dict[str, Any]:
    """Per feature: PSI vs training and since the previous run; and the run's bin counts."""
    drift = [d for d in result.monitoring["drift"] if d["feature"] != PROBABILITY]
    return {"psi": {d["feature"]: d["psi"] for d in drift},
            "since": {d["feature"]: d["psi_since_previous"] for d in drift},
            "counts": {n: c for n, c in result.monitoring["bin_counts"].items() if n != PROBABILITY}}


def run_seed(seed: int, customers: int, threads: int) -> tuple[dict[str, Any], Any, Any]:
    """One seed's world without shocks (every run) and its shock variants (the run before and the shock run);
    also the dataset and model bundle of the world without shocks, for the noise floor."""
    from _setup import churn_model, quiet_config

    from churnml.dataset import Dataset
    from churnml.monitoring import psi
    from churnml.pipeline import KeptRun, score_and_keep
    from churnml.synth import generate
    from churnml.synth.config import Shocks, SimulationConfig

    started = time.perf_counter()
    plain = Dataset.from_frames(generate(customers, seed=seed).tables)
    cfg = quiet_config(threads)
    t0 = pd.Timestamp(TRAIN_AT)
    known = plain.known_at(t0)
    bundle, registry, _ = churn_model(known, t0, cfg)
    trained = time.perf_counter() - started

    def scored(dataset, t: str, previous: KeptRun | None) -> tuple[dict[str, Any], KeptRun]:
        result, kept = score_and_keep(dataset, t, bundle, cfg, previous=previous)
        return _numbers(result), kept

    runs: dict[str, dict[str, Any]] = {}
    pasts: dict[str, KeptRun] = {}
    past = None
    for t in RUNS:
        runs[t], past = scored(plain, t, past)
        pasts[t] = past
    out: dict[str, Any] = {"seed": seed, "active": {t: int(sum(next(iter(r["counts"].values())))) for t, r in runs.items()},
                           "plain": {t: {"psi": r["psi"], "since": r["since"]} for t, r in runs.items()}, "variants": {}}
    for name, (_, _, spec) in VARIANTS.items():
        t = _shock_run(spec)
        before, earlier = RUNS[RUNS.index(t) - 1], RUNS[RUNS.index(t) - 2]
        shocked = Dataset.from_frames(generate(customers, seed=seed, config=SimulationConfig(shocks=Shocks(**spec))).tables)
        then, past = scored(shocked, before, pasts[earlier])
        if then["counts"] != runs[before]["counts"]:
            raise RuntimeError(f"seed {seed} {name}: the run before the shock differs from the world without it")
        now, _ = scored(shocked, t, past)
        counterfactual = runs[t]["counts"]
        out["variants"][name] = {
            "shock_run": t, "psi_before": then["psi"], "psi": now["psi"], "since": now["since"],
            "vs_counterfactual": {n: psi(np.asarray(counterfactual[n], float) / max(1, sum(counterfactual[n])), c)
                                  for n, c in now["counts"].items()},
        }
    out["sources"] = {n: registry[n].source for n in bundle.feature_names if n in registry}
    out["usual"] = {n: e.get("usual_move", 0.0) for n, e in bundle.meta["reference"]["features"].items() if n != PROBABILITY}
    out["seconds"] = {"train": round(trained, 1), "total": round(time.perf_counter() - started, 1)}
    return out, plain, bundle


def noise_floor(a: tuple[int, Any, Any], b: tuple[int, Any]) -> dict[str, Any]:
    """PSI between two independent seeds' worlds without shocks at every run date, in seed a's reference bins."""
    from churnml.config import ChurnConfig
    from churnml.monitoring import bin_counts, psi
    from churnml.pipeline import build_features

    (seed_a, data_a, bundle), (seed_b, data_b) = a, b
    reference = bundle.meta["reference"]
    out: dict[str, Any] = {"seeds": [seed_a, seed_b], "runs": {}}
    for t in RUNS:
        ca, cb = (bin_counts(bundle.prepare(build_features(d, t, ChurnConfig())), reference) for d in (data_a, data_b))
        out["runs"][t] = {n: psi(np.asarray(ca[n], float) / max(1, ca[n].sum()), cb[n]) for n in ca if n != PROBABILITY}
        out.setdefault("bins", {n: len(c) for n, c in ca.items() if n != PROBABILITY})
        out.setdefault("active", []).append([int(next(iter(ca.values())).sum()), int(next(iter(cb.values())).sum())])
    return out


def flagged(rule: Rule, psi_before: dict[str, float], psi_now: dict[str, float], since: dict[str, float],
            usual: dict[str, float]) -> set[str]:
    """The features a rule flags at a run (NaN never reaches a threshold)."""
    x, y, k = rule

    def moved(f: str) -> bool:
        return y is not None and since.get(f, math.nan) >= max(y, (k or 0.0) * usual.get(f, 0.0))

    return {f for f, v in psi_now.items() if (x is not None and v >= x and not psi_before.get(f, math.nan) >= x) or moved(f)}


def rules() -> list[Rule]:
    fixed: list[Rule] = [(x, None, None) for x in GRID] + [(None, y, None) for y in GRID] + [(x, y, None) for x in GRID for y in GRID]
    return fixed + [(x, 0.1, k) for x in (None, 0.2) for k in FACTORS]


def rule_name(rule: Rule) -> str:
    x, y, k = rule
    since = y is not None and (f"since>=max({y:g},{k:g}xusual)" if k else f"since>={y:g}")
    return " or ".join(p for p in (x is not None and f"new>={x:g}", since) if p)


def really_moved(v: dict[str, Any], tables: tuple[str, ...], sources: dict[str, str], moved: float, anywhere: bool) -> set[str]:
    """The features a shock really moved: PSI >= ``moved`` against the world without it and, unless ``anywhere``,
    computed from a table the shock acts on. Elsewhere a move is the generator's random stream taking another course
    after the shock (a routine regional incident striking another region), not the shock's doing."""
    return {f for f, p in v["vs_counterfactual"].items()
            if p >= moved and (anywhere or bool(set(sources.get(f, "").split(",")) & set(tables)))}


def evaluate(rule: Rule, results: list[dict[str, Any]], moved: float, anywhere: bool = False) -> dict[str, Any]:
    """Per shock world: the really moved, the flagged and the hits at its shock run; per run of the worlds without
    shocks: the features flagged (all false); and their summary."""
    worlds, quiet = [], []
    for r in results:
        for name, v in r["variants"].items():
            real = really_moved(v, VARIANTS[name][1], r["sources"], moved, anywhere)
            hit = flagged(rule, v["psi_before"], v["psi"], v["since"], r["usual"])
            worlds.append({"seed": r["seed"], "variant": name, "real": len(real), "flagged": len(hit), "tp": len(hit & real),
                           "missed": sorted(real - hit), "extra": sorted(hit - real)})
        for before, t in itertools.pairwise(RUNS):
            quiet.append({"seed": r["seed"], "as_of": t,
                          "flagged": sorted(flagged(rule, r["plain"][before]["psi"], r["plain"][t]["psi"], r["plain"][t]["since"], r["usual"]))})
    return {"rule": rule_name(rule), "x": rule[0], "y": rule[1], "k": rule[2], **summary(worlds, quiet), "worlds": worlds,
            "quiet_runs": quiet}


def summary(worlds: list[dict[str, Any]], quiet: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled and worst recall and precision over shock worlds (worst variant: pooled over its seeds; one with
    nothing to find has no recall, one with nothing flagged no precision); false flags per run without shocks."""

    def ratio(ws: list[dict[str, Any]], of: str) -> float | None:
        total = sum(w[of] for w in ws)
        return sum(w["tp"] for w in ws) / total if total else None

    def worst(groups: list[list[dict[str, Any]]], of: str) -> float | None:
        values = [ratio(g, of) for g in groups if sum(w["real"] for w in g)]
        return min((v for v in values if v is not None), default=None)

    variants = [[w for w in worlds if w["variant"] == name] for name in VARIANTS]
    findable = [w for w in worlds if w["real"]]
    counts = [len(q["flagged"]) for q in quiet]
    return {
        "recall": ratio(worlds, "real"), "precision": ratio(worlds, "flagged"),
        "worst_variant_recall": worst(variants, "real"), "worst_variant_precision": worst(variants, "flagged"),
        "worst_world_recall": worst([[w] for w in worlds], "real"), "worst_world_precision": worst([[w] for w in worlds], "flagged"),
        "worlds_holding": float(np.mean([w["tp"] >= TARGET * max(w["real"], w["flagged"]) for w in findable])) if findable else None,
        "false_flags_per_run": float(np.mean(counts)), "false_flags_max": max(counts),
        "runs_with_false_flags": float(np.mean([n > 0 for n in counts])),
    }


def best(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule with the highest min(recall, precision), then the fewest false flags per run."""
    return max(summaries, key=lambda e: (min(e["recall"] or 0, e["precision"] or 0), -e["false_flags_per_run"]))


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _row(e: dict[str, Any]) -> str:
    return (f"{_fmt(e['recall'])} | {_fmt(e['precision'])} | {_fmt(e['worst_variant_recall'])} / {_fmt(e['worst_variant_precision'])} | "
            f"{_fmt(e['worst_world_recall'])} / {_fmt(e['worst_world_precision'])} | {_fmt(e['worlds_holding'])} | "
            f"{e['false_flags_per_run']:.2f} ({e['false_flags_max']}) | {e['runs_with_false_flags']:.2f}")


HEADER = ("recall | precision | worst variant recall / precision | worst world recall / precision | worlds holding | "
          "false flags per run without shocks (max) | runs with a false flag")


def report(results: list[dict[str, Any]], scored: list[dict[str, Any]], anywhere: list[dict[str, Any]], floors: list[dict[str, Any]],
           moved: float, shipped: Rule) -> None:
    seeds = [r["seed"] for r in results]
    print(f"## Rules ({len(seeds)} seeds x {len(VARIANTS)} shock variants; {len(seeds) * (len(RUNS) - 1)} runs without shocks)\n")
    print(f"Really moved: PSI >= {moved:g} against the same seed's world without the shock, at the shock run, in a feature "
          "computed from a table the shock acts on (last column: any feature). Worst variant: pooled over its seeds; worst "
          f"world: one seed's variant; holding: the shock worlds with something to find where recall and precision reach {TARGET}.\n")
    print(f"| rule | {HEADER} | recall / precision, any feature |\n|---|---:|---:|---|---|---:|---:|---:|---|")
    for e, a in zip(scored, anywhere, strict=True):
        mark = " (shipped)" if (e["x"], e["y"], e["k"]) == shipped else ""
        print(f"| {e['rule']}{mark} | {_row(e)} | {_fmt(a['recall'])} / {_fmt(a['precision'])} |")
    top = best(scored)
    print(f"\nHighest min(recall, precision) on all seeds: {top['rule']}.")
    if len(seeds) > 1:
        first, second = set(seeds[: len(seeds) // 2]), set(seeds[len(seeds) // 2 :])

        def on(e: dict[str, Any], part: set[int]) -> dict[str, Any]:
            return {"rule": e["rule"], "x": e["x"], "y": e["y"], "k": e["k"], **summary([w for w in e["worlds"] if w["seed"] in part],
                                                                             [q for q in e["quiet_runs"] if q["seed"] in part])}

        picked = best([on(e, first) for e in scored])
        print(f"\nChosen on seeds {sorted(first)} alone: {picked['rule']}; on the other seeds {sorted(second)}:\n")
        print(f"| rule | {HEADER} |\n|---|---:|---:|---|---|---:|---:|---:|")
        for e in scored:
            if (e["x"], e["y"], e["k"]) in {shipped, (picked["x"], picked["y"], picked["k"])}:
                print(f"| {e['rule']} | {_row(on(e, second))} |")
    chosen = [e for e in scored if (e["x"], e["y"], e["k"]) == shipped] + ([top] if (top["x"], top["y"], top["k"]) != shipped else [])
    print("\n## Per shock variant (pooled over seeds)\n")
    print("| variant | change | really moved per seed (min-max) | moved elsewhere per seed | largest PSI vs without | "
          + " | ".join(f"{e['rule']}: recall / precision" for e in chosen) + " |\n|---|---|---|---:|---:|" + "---|" * len(chosen))
    for name, (what, tables, _) in VARIANTS.items():
        counts = [len(really_moved(r["variants"][name], tables, r["sources"], moved, False)) for r in results]
        elsewhere = [len(really_moved(r["variants"][name], tables, r["sources"], moved, True)) - c for r, c in zip(results, counts, strict=True)]
        largest = max(p for r in results for f, p in r["variants"][name]["vs_counterfactual"].items()
                      if set(r["sources"].get(f, "").split(",")) & set(tables))
        cells = []
        for e in chosen:
            ws = [w for w in e["worlds"] if w["variant"] == name]
            real, hit, tp = (sum(w[k] for w in ws) for k in ("real", "flagged", "tp"))
            cells.append(f"{_fmt(tp / real if real else None)} / {_fmt(tp / hit if hit else None)}")
        print(f"| {name} | {what} | {np.mean(counts):.1f} ({min(counts)}-{max(counts)}) | {np.mean(elsewhere):.1f} | {largest:.3f} | "
              + " | ".join(cells) + " |")
    for e in chosen:
        tally = pd.Series([f for q in e["quiet_runs"] for f in q["flagged"]], dtype=object).value_counts()
        missed = pd.Series([f for w in e["worlds"] for f in w["missed"]], dtype=object).value_counts()
        print(f"\n{e['rule']}: flagged on runs without shocks (runs): " + (", ".join(f"{f} ({n})" for f, n in tally.head(8).items()) or "none")
              + "; missed at shock runs (worlds): " + (", ".join(f"{f} ({n})" for f, n in missed.head(8).items()) or "none"))
    print("\n## Noise floor: PSI between two independent seeds' worlds without shocks at the same date (first seed's bins)\n")
    print("| seeds | dates | active customers | sampling floor (bins-1)(1/n1+1/n2) | median feature | p90 | max | "
          "features >= 0.05 / 0.1 / 0.2 per date | largest (median over dates) |\n|---|---:|---:|---:|---:|---:|---:|---|---|")
    for fl in floors:
        values = np.array([p for run in fl["runs"].values() for p in run.values()], float)
        n1, n2 = np.mean(fl["active"], axis=0)
        theory = (np.median(list(fl["bins"].values())) - 1) * (1 / n1 + 1 / n2)
        per_date = np.mean([[sum(p >= c for p in run.values()) for c in (0.05, 0.1, 0.2)] for run in fl["runs"].values()], axis=0)
        by_feature = pd.DataFrame(fl["runs"]).median(axis=1).sort_values(ascending=False)
        print(f"| {fl['seeds'][0]} vs {fl['seeds'][1]} | {len(fl['runs'])} | {n1:.0f} / {n2:.0f} | {theory:.4f} | {np.median(values):.4f} | "
              f"{np.quantile(values, 0.9):.3f} | {values.max():.3f} | {' / '.join(f'{v:.1f}' for v in per_date)} | "
              + ", ".join(f"{f} {v:.2f}" for f, v in by_feature.head(3).items()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3,4,5,6")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--moved", type=float, default=0.1, help="PSI against the world without the shock that counts as really moved")
    parser.add_argument("--workdir", default="bench-drift-rules")
    args = parser.parse_args()
    from churnml.config import ChurnConfig

    started = time.perf_counter()
    results, worlds = [], []
    for s in args.seeds.split(","):
        record, data, bundle = run_seed(int(s), args.customers, args.threads)
        results.append(record)
        worlds.append((int(s), data, bundle))
        print(f"seed {s}: {record['seconds']}", file=sys.stderr, flush=True)
    floors = [noise_floor(worlds[i], worlds[i + 1][:2]) for i in range(0, len(worlds) - 1, 2)]
    watch = ChurnConfig().monitoring
    scored = [evaluate(rule, results, args.moved) for rule in rules()]
    anywhere = [evaluate(rule, results, args.moved, anywhere=True) for rule in rules()]
    seconds = round(time.perf_counter() - started, 1)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "drift_rules.json").write_text(json.dumps({
        "args": vars(args), "seconds": seconds, "variants": {n: {"change": w, "tables": t, "shocks": s} for n, (w, t, s) in VARIANTS.items()},
        "rules": scored, "rules_any_feature": [{k: v for k, v in e.items() if k not in ("worlds", "quiet_runs")} for e in anywhere],
        "noise_floor": floors, "runs": results}, indent=1, default=float) + "\n")
    report(results, scored, anywhere, floors, args.moved, (watch.psi_drift, watch.psi_watch, watch.move_factor))
    print(f"\n{seconds} s in all ({args.customers} customers per world)")


if __name__ == "__main__":
    main()
