"""A small scoring run, end to end through files, whose highest-risk customers carry hostile ids; and its report.

The run goes the way ``churnml report`` sees it: a dataset directory, a model bundle with its evaluation plots, a
scores CSV with its manifest. The top-ranked customers are renamed to ids that try to escape the report folder,
inject markup or collide after slugging, so every report test sees them on real pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from churnml import io
from churnml.cli import app
from churnml.config import parse_config
from churnml.dataset import Dataset
from churnml.features import feature_label, feature_registry
from churnml.labels import training_snapshots
from churnml.modeling.train import train_model
from churnml.pipeline import score as score_dataset
from churnml.plots import evaluation_figures
from churnml.report import ReportInputs, read_report_inputs, render_report
from churnml.synth import generate

HOSTILE_IDS = (
    "../x",
    "<script>alert(1)</script>",
    "a/b",
    "a-b",
    "CON",
    "..",
    '"><img src=x onerror=alert(2)>',
    "AB",
    "ab",
    "ünïcödé/ид & 'quotes'",
)
# One thread: on a small, shared CI machine OpenMP threads waiting on each other cost more than they give.
FAST_CONFIG = {"model": {"max_rounds": 150, "num_threads": 1}, "tracking": {"enabled": False}}
MAX_PAGES = 60


@dataclass
class SmallRun:
    root: Path
    data_dir: Path
    bundle_dir: Path
    scores_path: Path
    inputs: ReportInputs
    evaluation: dict[str, bytes]
    files: dict[str, bytes]
    report_dir: Path
    seconds: dict[str, float]
    previous_flags: pd.Series  # the first run's flag per customer, from its history
    bundle_meta: dict


def _rename(frames: dict[str, pd.DataFrame], mapping: dict[str, str]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, frame in frames.items():
        if "customer_id" in frame.columns and len(frame):
            ids = frame["customer_id"]
            frame = frame.assign(customer_id=ids.map(lambda v: mapping.get(v, v)).astype(ids.dtype))
        out[name] = frame
    return out


def build_small_run(root: Path, customers: int = 2000, months: int = 18, seed: int = 5) -> SmallRun:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    synthetic = generate(customers, seed=seed, start="2024-07-01", months=months)
    as_of = synthetic.end
    cfg = parse_config(FAST_CONFIG)
    dataset = Dataset.from_frames(synthetic.tables)
    snapshots = training_snapshots(dataset, as_of, cfg)
    registry = feature_registry(cfg, dict(dataset.customers.drop(columns="customer_id").dtypes))
    families = {name: spec.family for name, spec in registry.items()}
    result = train_model(snapshots, cfg, families, as_of=as_of, oracle=synthetic.oracle)
    bundle_dir = io.write_bundle(result.bundle, root / "models")
    labels = {name: feature_label(spec, name) for name, spec in registry.items()}
    io.save_figures(evaluation_figures(result, families, cfg.flagging.top_fraction or 0.10, labels), bundle_dir / "evaluation")
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    bundle = io.read_bundle(bundle_dir)
    scored = score_dataset(dataset, as_of, bundle, cfg)
    top = scored.scores.loc[scored.scores["flagged"], "customer_id"].head(len(HOSTILE_IDS)).tolist()
    mapping = dict(zip(top, HOSTILE_IDS))
    data_dir = root / "data"
    io.write_dataset(Dataset.from_frames(_rename(synthetic.tables, mapping)), data_dir)
    # The nightly job as churnml score runs it: a month before, then tonight, to the same --out (a run history).
    scores_path = root / "scores" / "scores.csv"
    for day in (as_of - pd.DateOffset(months=1), as_of):
        ran = CliRunner().invoke(app, ["score", "--data", str(data_dir), "--as-of", str(day.date()), "--model", str(bundle_dir),
                                          "--out", str(scores_path)])
        assert ran.exit_code == 0, ran.output
    seconds["score"] = time.perf_counter() - started

    started = time.perf_counter()
    inputs, evaluation = read_report_inputs(scores_path, max_customer_pages=MAX_PAGES, profile_sample=1500)
    seconds["gather"] = time.perf_counter() - started
    started = time.perf_counter()
    files = render_report(inputs, evaluation)
    seconds["render"] = time.perf_counter() - started
    report_dir = root / "report"
    for rel, content in files.items():
        path = report_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    first = io.past_runs(io.runs_folder(scores_path))[0]
    previous = first.customers(["customer_id", "flagged"]).set_index("customer_id")["flagged"]
    return SmallRun(root, data_dir, bundle_dir, scores_path, inputs, evaluation, files, report_dir, seconds, previous, bundle.meta)
