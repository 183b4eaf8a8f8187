"""Realised performance of past runs: each matured run's scores joined with what then happened."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.labels import build_labels
from churnml.modeling.evaluate import classification_metrics


def outcomes_known_until(dataset: Dataset) -> pd.Timestamp | None:
    """The latest date whose outcomes the data knows: the latest event in the logs (a subscriptions-only export
    dates itself by its periods); None when no row is dated."""
    logs = dataset.replace(subscriptions=dataset.subscriptions.iloc[:0])
    newest = logs.newest_date()[0] or dataset.newest_date()[0]
    return None if newest is None else pd.Timestamp(newest)


COLUMNS = ["as_of", "model_version", "matured", "matures", "customers", "customers_with_outcome", "predicted_churn_rate",
           "observed_churn_rate", "expected_roc_auc", "roc_auc", "top_decile_lift", "ece", "flagged",
           "expected_precision_flagged", "precision_flagged"]


def realised_performance(subscriptions: pd.DataFrame, runs: list[tuple[dict, pd.DataFrame]], newest: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    """How past runs did, one row per run date: each run whose horizon and grace have passed by ``newest`` (the
    latest date the data records) is joined with what then happened (the label the training uses: a churn in
    (T, T + H], confirmed after the grace period) and measured: ROC-AUC, top-decile lift, precision of the flagged,
    predicted against observed churn, beside what the run expected without outcomes. Runs not yet matured are
    listed with the date they mature. ``runs``: each run's record (``run.json``) and its customers table."""
    rows = []
    for run, customers in runs:
        t = as_timestamp(run["as_of"])
        horizon = int(run.get("horizon_days") or config.labels.horizon_days)
        grace = int(run.get("grace_days") or config.labels.grace_days)
        matures = t + pd.Timedelta(days=horizon + grace)
        expected = run.get("expected") or {}
        row: dict[str, Any] = {"as_of": str(t.date()), "model_version": run.get("model_version"), "matures": str(matures.date()),
                               "matured": bool(matures <= newest), "customers": len(customers),
                               "expected_roc_auc": expected.get("expected_roc_auc", np.nan),
                               "predicted_churn_rate": float(customers["churn_probability"].mean()) if len(customers) else np.nan}
        if row["matured"]:
            cfg = config.labels.model_copy(update={"horizon_days": horizon, "grace_days": grace})
            labels = build_labels(subscriptions, t, cfg)
            scored = customers.set_index("customer_id")
            y = labels.reindex(scored.index)
            known = y.notna().to_numpy()
            yk, pk = y.to_numpy()[known].astype(int), scored["churn_probability"].to_numpy(dtype=float)[known]
            flagged = scored["flagged"].to_numpy(dtype=bool)[known]
            m = classification_metrics(yk, pk, config.flagging.top_fraction or 0.10)
            row.update({
                "customers_with_outcome": int(known.sum()),
                "observed_churn_rate": float(yk.mean()) if len(yk) else np.nan,
                "predicted_churn_rate": float(pk.mean()) if len(pk) else np.nan,
                "roc_auc": m["roc_auc"], "top_decile_lift": m["top_decile_lift"], "ece": m.get("ece", np.nan),
                "flagged": int(flagged.sum()),
                "precision_flagged": float(yk[flagged].mean()) if flagged.any() else np.nan,
                "expected_precision_flagged": expected.get("expected_precision_flagged", np.nan),
            })
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
