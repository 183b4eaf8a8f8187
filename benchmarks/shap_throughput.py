"""TreeSHAP throughput of LightGBM's own pred_contrib against shap's TreeExplainer, on the same model and rows.

    python benchmarks/shap_throughput.py --data D --as-of 2026-01-01 --model models/latest --customers 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from churnml import io
from churnml.config import parse_config
from churnml.features import build_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()

    bundle = io.read_bundle(args.model)
    cfg = parse_config(bundle.meta["config"])
    dataset = io.load_dataset(args.data).dataset
    ids = dataset.customer_ids[: args.customers * 2]
    X = bundle.prepare(build_features(dataset.for_customers(ids), args.as_of, cfg)).head(args.customers)
    n = len(X)

    started = time.perf_counter()
    native = bundle.booster.predict(X, pred_contrib=True)
    t_native = time.perf_counter() - started

    import shap

    try:
        started = time.perf_counter()
        explainer = shap.TreeExplainer(bundle.booster)
        values = explainer.shap_values(X)
        t_shap = time.perf_counter() - started
        values = values[1] if isinstance(values, list) else values
        gap = float(np.max(np.abs(values - native[:, :-1])))
        shap_line = f"shap TreeExplainer: {n / t_shap:,.0f} customers/s ({t_shap:.2f} s); max difference from pred_contrib {gap:.2e}"
    except Exception as exc:  # report why the second explainer could not run on this model
        shap_line = f"shap TreeExplainer: failed on this model ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    print(f"{n:,} customers x {X.shape[1]} features, {bundle.booster.num_trees()} trees (model {bundle.version})")
    print(f"LightGBM pred_contrib: {n / t_native:,.0f} customers/s ({t_native:.2f} s)")
    print(shap_line)


if __name__ == "__main__":
    main()
