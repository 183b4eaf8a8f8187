"""Reading what a report needs from a scores file: its manifest, the scored dataset, the model bundle.

Only reads; the report itself is built by :func:`gather_report_inputs` and :func:`render_report`, and written
by the caller. Paths in the manifest are taken as written, relative to the working directory of the scoring run;
when they do not exist from here they are tried relative to the scores file's folder and its parent.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from churnml import io
from churnml.config import ChurnConfig, parse_config
from churnml.dataset import Dataset
from churnml.errors import InputError, NotFoundError
from churnml.modeling.backtest import outcomes_known_until, realised_performance
from churnml.monitoring import outcomes_of
from churnml.monitoring.outcomes import HISTORY_COLUMNS
from churnml.report.gather import ReportInputs, StoredRuns, gather_report_inputs
from churnml.report.render import EVALUATION_ORDER, render_report


def _resolve(raw: str, scores_path: Path) -> Path:
    path = Path(raw)
    if path.is_absolute() or path.exists():
        return path
    for base in (scores_path.parent, scores_path.parent.parent):
        if (base / path).exists():
            return base / path
    return path


def evaluation_pngs(bundle_dir: Path | str) -> dict[str, bytes]:
    """The evaluation plots saved beside a model bundle (``<bundle>/evaluation/*.png``), by name."""
    folder = Path(bundle_dir) / "evaluation"
    out = {}
    for name in EVALUATION_ORDER:
        path = folder / f"{name}.png"
        if path.is_file():
            out[name] = path.read_bytes()
    return out


def _verified_manifest(path: Path, writer: str) -> dict:
    """The run manifest beside a published file, refusing a missing one or one that records another file."""
    manifest = io.read_manifest(path)
    if not manifest:
        raise NotFoundError(f"{io.manifest_path(path)}: run manifest not found; the report needs the manifest {writer}")
    io.verify_scores_pair(path, manifest)
    return manifest


def stored_runs(scores_path: Path, as_of: str, model_version: str, dataset: Dataset, config: ChurnConfig) -> StoredRuns:
    """What the scores file's kept runs stored, up to the run of ``as_of``: their records, tonight's feature
    vectors (only from a run of the same model), the previous run's flags and the runs' realised performance
    (outcomes from ``dataset``)."""
    runs = [r for r in io.past_runs(io.recorded_history_folder(scores_path)) if str(r.run.get("as_of")) <= as_of]
    if not runs:
        return StoredRuns()
    last = runs[-1].run
    tonight = runs[-1] if str(last.get("as_of")) == as_of and last.get("model_version") == model_version else None
    before = [r for r in runs if str(r.run.get("as_of")) < as_of]
    previous = before[-1].customers(["customer_id", "flagged"]).set_index("customer_id")["flagged"] if before else None
    newest = outcomes_known_until(dataset)
    backtest = found = None
    if newest is not None:
        kept = [(r.run, r.customers([c for c in HISTORY_COLUMNS if c in r.columns()])) for r in runs]  # one read a run
        backtest = realised_performance(dataset.subscriptions, kept, newest, config)
        if len(dataset.retention_actions):
            found = outcomes_of(kept, dataset.subscriptions, dataset.retention_actions, newest, config)
            found = found if found.rows["group"].isin(["treated", "control"]).any() else None
    has_vectors = tonight is not None and any((tonight.folder / "features").glob("part-*.parquet"))
    return StoredRuns(
        runs=[r.run for r in runs],
        vectors=tonight.features if has_vectors and tonight is not None else None,
        previous_flags=previous,
        backtest=backtest,
        newest=str(newest.date()) if newest is not None else None,
        outcomes=found,
    )


def read_report_inputs(
    scores_path: Path | str,
    *,
    max_customer_pages: int = 300,
    profile_sample: int = 50_000,
    key: bytes | None = None,
    winback_path: Path | str | None = None,
) -> tuple[ReportInputs, dict[str, bytes]]:
    """Everything :func:`churnml.report.render_report` needs for a scores file written by ``churnml score``
    (``key``: the bundle must be signed with it)."""
    scores_path = Path(scores_path)
    scores = io.read_scores(scores_path)
    if scores.empty:
        raise InputError([f"{scores_path}: the scores file has no rows, so there is nothing to report; score a date with active customers"])
    manifest = _verified_manifest(scores_path, "churnml score writes beside the scores")
    model_raw = (manifest.get("model") or {}).get("path")
    subs = ((manifest.get("inputs") or {}).get("subscriptions") or {}).get("file")
    if not model_raw or not subs:
        raise InputError(
            [f"{io.manifest_path(scores_path)}: the manifest names no model or no subscriptions file; rerun churnml score"]
        )
    bundle_dir = _resolve(model_raw, scores_path)
    data_dir = _resolve(subs, scores_path).parent
    bundle = io.read_bundle(bundle_dir, key=key)
    config = parse_config(bundle.meta.get("config"), f"model {bundle.version} bundle.json")
    dataset = io.load_dataset(data_dir).accepted
    stored = stored_runs(scores_path, str(manifest.get("as_of")), bundle.version, dataset, config)
    inputs = gather_report_inputs(
        scores, manifest, dataset, bundle, config, stored=stored, max_customer_pages=max_customer_pages, profile_sample=profile_sample
    )
    if winback_path is not None:
        winback_path = Path(winback_path)
        table = io.read_winback(winback_path)
        inputs = replace(inputs, winback=table, winback_run=_verified_manifest(winback_path, "churnml winback writes beside its list"))
    return inputs, evaluation_pngs(bundle_dir)


def build_report_files(
    scores_path: Path | str,
    *,
    max_customers: int = 300,
    profile_sample: int = 50_000,
    key: bytes | None = None,
    winback_path: Path | str | None = None,
) -> dict[str, bytes]:
    """The report of a scores file (and optionally a win-back list) as ``{relative path: bytes}``, ready for
    :func:`churnml.io.write_report`."""
    inputs, pngs = read_report_inputs(
        scores_path, max_customer_pages=max_customers, profile_sample=profile_sample, key=key, winback_path=winback_path
    )
    return render_report(inputs, pngs)
