"""The ``churnml`` command: one entry point, one verb per pipeline stage (contract section 3)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import click
import pandas as pd
import pydantic
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from churnml import io
from churnml.config import ChurnConfig, load_config
from churnml.dataset import Dataset, as_timestamp
from churnml.errors import CannotWriteError, ChurnMLError, ConfigError, DriftError, ExitCode, InputError, ModelError, RejectedRowsError
from churnml.validation import ValidationResult

app = typer.Typer(
    name="churnml",
    help="Nightly churn risk, cause (price or service) and remedy for every active customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _iso_date(value: str) -> str:
    """Only a full ISO calendar date is an as-of date: `2026-13-01`, `now`, `2019` or `20190101` are refused."""
    import re
    from datetime import date

    text = (value or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise typer.BadParameter(f"{value!r} is not a date; give a full ISO date such as 2026-03-01")
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a calendar date ({exc}); give a full ISO date such as 2026-03-01") from None
    if not 1900 <= day.year < 2200:
        raise typer.BadParameter(f"{value!r} lies outside the years 1900-2199 that dates in the data may take; give an ISO date in that range")
    return text


def _table_format(value: str) -> str:
    if value not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet")
    return value


def _first_of_month(text: str) -> str:
    if not text.endswith("-01"):
        raise typer.BadParameter(f"{text!r}: the simulation runs in calendar months; give the first day of a month such as {text[:8]}01")
    return text


DataOpt = Annotated[Path, typer.Option("--data", help="Dataset directory (NAME.csv or NAME.parquet per table).")]
AsOfOpt = Annotated[str, typer.Option("--as-of", callback=_iso_date, help="As-of date T (YYYY-MM-DD): only what is dated before T counts.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML configuration (default: built-in defaults = configs/default.yaml).")]
ModelOpt = Annotated[Path, typer.Option("--model", help="Model bundle directory, e.g. models/latest.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Where the per-bucket work runs: local (this process, one part at a time) or dask.")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="With --engine dask: local:N starts N worker processes here; tcp://HOST:PORT uses a running scheduler.")]

STALE_WARNING_DAYS = 31  # a nightly feed whose newest row is older than this is probably no longer arriving


def _config(path: Path | None) -> ChurnConfig:
    return load_config(path)


def _config_key(config: Path | None) -> bytes | None:
    """The signing key of the config file given with --config, if any: what loading a bundle checks against."""
    return _signing_key(_config(config), config) if config else None


def _signing_key(cfg: ChurnConfig, source: Path | None = None) -> bytes | None:
    """The bundle signing key the config points at (an environment variable or a file), read here and only here."""
    signing = cfg.signing
    where = f"{source}: " if source else ""
    if signing.key_env:
        value = os.environ.get(signing.key_env, "")
        if not value:
            raise ConfigError(f"{where}signing.key_env: the environment variable {signing.key_env} is not set or empty; export the key or remove signing.key_env")
        return value.encode("utf-8")
    if signing.key_file:
        try:
            key = Path(signing.key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}signing.key_file: {signing.key_file} cannot be read ({exc.strerror}); fix the path or its permissions") from None
        if not key.strip():
            raise ConfigError(f"{where}signing.key_file: {signing.key_file} is empty; write a key into it (e.g. 32 random bytes)")
        return key
    return None


def print_validation(result: ValidationResult, title: str = "Validation") -> None:
    """The read / accepted / rejected summary, one row per table."""
    table = Table(title=title, title_justify="left")
    for col in ("table", "file", "read", "accepted", "rejected"):
        table.add_column(col, justify="right" if col in ("read", "accepted", "rejected") else "left")
    for rep in result.reports.values():
        style = "yellow" if rep.rejected else None
        table.add_row(rep.table, Path(rep.source).name, f"{rep.read:,}", f"{rep.accepted:,}", f"{rep.rejected:,}", style=style)
    out.print(table)
    for rep in result.reports.values():
        if rep.ignored_columns:
            out.print(f"[dim]{rep.table}: extra columns ignored: {', '.join(rep.ignored_columns)}[/dim]")


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the dataset into.")],
    customers: Annotated[int, typer.Option("--customers", min=1, help="Number of distinct customers.")] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same dataset.")] = 0,
    start: Annotated[str, typer.Option("--start", callback=lambda v: _first_of_month(_iso_date(v)), help="First simulated day, the first of a month (YYYY-MM-01).")] = "2024-01-01",
    months: Annotated[int, typer.Option("--months", min=3, help="Months simulated.")] = 24,
    fmt: Annotated[str, typer.Option("--format", callback=_table_format, help="Table format: csv or parquet.")] = "csv",
    world: Annotated[
        str, typer.Option("--world", help="Simulated world: how churn comes about (see README, 'Simulated worlds').")
    ] = "default",
    partitions: Annotated[int | None, typer.Option(
        "--partitions", min=1, max=100_000,
        help="Write a partitioned dataset (Parquet, N customer buckets), simulating N independent regions one at a time: memory follows one region.")] = None,
) -> None:
    """Write a synthetic dataset with planted churn causes, a ground-truth file and oracle probabilities."""
    from churnml.synth import WORLDS, world_config
    from churnml.synth import generate as simulate

    _refuse_dangling_link(out_dir)
    if world not in WORLDS:
        raise typer.BadParameter(f"unknown world {world!r}; choose one of {', '.join(WORLDS)}", param_hint="--world")
    if partitions is not None:
        if world_config(world).treatments.enabled:  # its CRM draws the control group from the ids of one piece
            raise typer.BadParameter(f"the {world} world is simulated in one piece; drop --partitions (or partition it afterwards "
                                     "with churnml partition)", param_hint="--partitions")
        _generate_partitioned(out_dir, customers, seed, start, months, world, partitions)
        return
    started = time.perf_counter()
    with err.status(f"Simulating {customers:,} customers over {months} months ({world} world)…"):
        data = simulate(customers, seed=seed, start=start, months=months, config=world_config(world))

    with err.status(f"Writing tables to {out_dir}…"):
        io.write_dataset(Dataset.from_frames(data.tables), out_dir, fmt)
        io.write_table(data.truth, out_dir, "truth", "csv")
        io.write_table(data.oracle, out_dir, "oracle", "parquet")
        if data.treatments is not None:  # what the simulated CRM did and what it was truly worth
            io.write_table(data.treatments, out_dir, "treatments", "parquet")
    out.print(
        f"Wrote {customers:,} customers, {len(data.truth):,} churns ({data.start.date()} to {data.end.date()}) "
        f"to {out_dir} in {time.perf_counter() - started:.1f} s. Suggested as-of: {data.end.date()}"
    )


def _generate_partitioned(out_dir: Path, customers: int, seed: int, start: str, months: int, world: str, partitions: int) -> None:
    """``generate --partitions N``: N regions simulated one after another, each split into the N hash buckets."""
    from rich.progress import track

    from churnml.synth import generate_regions, world_config

    if out_dir.exists():
        raise typer.BadParameter(f"{out_dir} exists; give a new folder (a partitioned dataset is written whole, never into or over another)", param_hint="--out")
    if partitions > customers:
        raise typer.BadParameter(f"{partitions} partitions for {customers:,} customers; use at most one per customer", param_hint="--partitions")
    started = time.perf_counter()
    churns, end = 0, None
    with io.PartitionWriter(out_dir, partitions) as writer:
        regions = generate_regions(customers, partitions, seed=seed, start=start, months=months, config=world_config(world))
        for data in track(regions, description="simulating regions", total=partitions, transient=True, console=err):
            writer.add(Dataset.from_frames(data.tables))
            writer.append_extra(data.truth, "truth.csv")
            writer.append_extra(data.oracle, "oracle.parquet")
            churns += len(data.truth)
            end = data.end
        writer.commit()
    out.print(
        f"Wrote {customers:,} customers in {partitions:,} regions and buckets, {churns:,} churns (to {end.date() if end is not None else '-'}) "
        f"to {out_dir} in {time.perf_counter() - started:.1f} s. Every command reads it as --data {out_dir}. Suggested as-of: {end.date() if end is not None else '-'}"
    )


@app.command()
def validate(
    data: DataOpt,
    as_of: Annotated[str | None, typer.Option("--as-of", callback=lambda v: None if v is None else _iso_date(v), help="Reject rows dated after this date.")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 5) if any row is rejected.")] = False,
    config: ConfigOpt = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Check every table; rejected rows go to REJECTS/<table>.csv with their line and reason."""
    from churnml.engine import engine as start_engine

    started = time.perf_counter()
    _guard_rejects(rejects, data)
    cfg = _config(config)
    with start_engine(engine, scheduler, progress=True) as eng:
        checked, result = _validated(data, as_of, eng)
        if not isinstance(checked, Dataset):  # validated on the engine, bucket by bucket
            _report_engine(eng)
    rejects_dir = rejects or data / "rejects"
    written = _write_rejects(result, rejects_dir, rejects is None)
    print_validation(result)
    if written:
        out.print(f"{result.total_rejected:,} rejected rows, with reasons, in: {', '.join(str(p) for p in written)}")
    else:
        out.print(f"No rejected rows ({time.perf_counter() - started:.1f} s).")
    _check_reject_share(result, rejects_dir, cfg.validation.max_reject_share)
    if strict and result.total_rejected:
        raise RejectedRowsError(f"{result.total_rejected:,} rows rejected in --strict mode; see {rejects_dir}")


def _write_rejects(result: ValidationResult, directory: Path, default: bool) -> list[Path]:
    try:
        return io.write_rejects(result, directory)
    except OSError as exc:
        hint = "pass --rejects with a folder this job may write to" if default else "choose another --rejects folder"
        raise CannotWriteError(f"{directory}: rejected rows cannot be written there ({exc.strerror}); {hint}") from None


def _reject_share_problem(source: str, rejected: int, read: int, limit: float, option: str, rejects_file: Path, note: str = "") -> str | None:
    """The refusal of a table or export rejected beyond ``limit``, or None: one wording for every command."""
    share = rejected / max(read, 1)
    if share <= limit:
        return None
    return (
        f"{source}: {rejected:,} of {read:,} rows rejected ({share:.0%}, more than {option} {limit:.0%}{note}); "
        f"the reasons are in {rejects_file}: fix the export, or raise {option} if this is expected"
    )


def _check_reject_share(result: ValidationResult, directory: Path, limit: float) -> None:
    """A table rejected beyond ``limit`` is a broken export: stop rather than score on what is left of it."""
    problems = [
        _reject_share_problem(
            rep.source, rep.rejected - rep.after_as_of, rep.read - rep.after_as_of, limit, "validation.max_reject_share",
            directory / (rep.table + ".csv"), "; rows only dated after --as-of do not count",
        )
        for rep in result.reports.values()
    ]
    if any(problems):
        raise InputError([p for p in problems if p])


def _report_engine(eng) -> None:
    """On a cluster, say where the buckets were worked: the scheduler's own count of tasks per worker."""
    if eng.name == "dask":
        s = eng.summary()
        err.print(f"Dask: {s['tasks']:,} tasks on {len(s['tasks_by_worker'])} of {s['workers']} workers ({escape(s['scheduler'])}).")


def _validated(data: Path, as_of: str | None, engine, newest_at: pd.Timestamp | None = None):
    """The data the stages take (the dataset in memory, or the handle of a partitioned one, validated bucket by
    bucket on ``engine``, its rows left on disk) and its validation result."""
    from churnml import pipeline

    handle = io.open_partitioned(data)
    if handle is not None:  # the engine shows the buckets' progress
        return handle, pipeline.validate(handle, as_of, engine=engine, newest_at=newest_at)
    with err.status(f"Loading and validating {data}…"):
        result = pipeline.validate(io.read_raw_tables(data), as_of, newest_at=newest_at)
    return result.dataset, result


def _load(
    data: Path, rejects: Path | None, as_of: str | None = None, title: str = "Input", max_reject_share: float = 0.2,
    engine=None, newest_at: pd.Timestamp | None = None,
):
    """Validate a dataset, report the counts and write rejected rows: nothing is dropped silently. Commands
    check ``rejects`` with :func:`_guard_rejects` first, before any work.

    Returns the data the stages take (the dataset, or the handle of a partitioned one, whose rows stay on disk and
    are validated bucket by bucket on ``engine``) and the validation result.
    """
    data_in, result = _validated(data, as_of, engine, newest_at)
    directory = rejects or data / "rejects"
    written = _write_rejects(result, directory, rejects is None)
    print_validation(result, title)
    if written:
        out.print(f"[yellow]{result.total_rejected:,} rejected rows, with reasons, in {directory}[/yellow]")
    _check_reject_share(result, directory, max_reject_share)
    return data_in, result


_SUMMARY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift", "recall_at_capacity")


def print_training_summary(result, bundle_dir: Path, tracked) -> None:
    m = result.metrics
    table = Table(title="Out-of-time evaluation", title_justify="left")
    table.add_column("metric")
    columns = [k for k in ("model", "logistic", "rule", "oracle") if k in m]
    for k in columns:
        table.add_column({"logistic": "logistic baseline", "rule": f"rule ({m['rule'].get('feature', '')})"}.get(k, k), justify="right")
    for metric in _SUMMARY_METRICS:
        table.add_row(metric, *(f"{m[k].get(metric, float('nan')):.4f}" for k in columns))
    table.add_row("rows", *(f"{int(m[k]['rows']):,}" for k in columns))
    out.print(table)
    out.print(f"Split: {result.split.description}.")
    out.print(
        f"Calibration ({result.bundle.calibrator.method_}): "
        f"Brier {m['model_uncalibrated']['brier']:.4f} -> {m['model']['brier']:.4f}, "
        f"ECE {m['model_uncalibrated']['ece']:.4f} -> {m['model']['ece']:.4f}."
    )
    if "model_oracle_auc_ratio" in m:
        out.print(f"Model / oracle ROC-AUC: {m['model_oracle_auc_ratio']:.3f}.")
    stages = ", ".join(f"{k} {v['roc_auc']:.3f} (n={int(v['rows']):,})" for k, v in m["by_stage"].items())
    out.print(f"ROC-AUC by lifecycle stage: {stages}.")
    out.print(f"Model bundle: {bundle_dir} (plots in {bundle_dir / 'evaluation'}).")
    if tracked is not None:
        alias = f" as @{tracked.alias} (score it with --model models:/{tracked.registered_model}@{tracked.alias}; `churnml promote` makes it @champion)" if tracked.alias else ""
        out.print(f"MLflow: run {tracked.run_id}, registered {tracked.registered_model} v{tracked.model_version}{alias} at {tracked.tracking_uri}.")


@app.command()
def train(
    data: DataOpt,
    as_of: AsOfOpt,
    config: ConfigOpt = None,
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Where model bundles go (models/<version>/, models/latest).")] = Path("models"),
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Train on everything knowable at T, evaluate out of time, write a model bundle, log to MLflow."""
    from churnml import pipeline
    from churnml.engine import engine as start_engine
    from churnml.plots import evaluation_figures
    from churnml.tracking import log_training_run, metrics_json

    _guard_rejects(rejects, data)
    cfg = _config(config)
    t = as_timestamp(as_of)
    with start_engine(engine, scheduler, progress=True) as eng:
        dataset, _ = _load(data, rejects, max_reject_share=cfg.validation.max_reject_share, engine=eng)
        training = pipeline.train(dataset, t, cfg, oracle=io.read_oracle(data), source=str(data), engine=eng, progress=True)
        _report_engine(eng)
    result, families, fingerprint = training.result, training.families, training.fingerprint
    _print_winback_training(training, cfg)
    _print_uplift_training(training.result.bundle, cfg)
    bundle_dir = io.write_bundle(result.bundle, model_dir, key=_signing_key(cfg, config), update_latest=False)
    io.save_figures(evaluation_figures(result, families, cfg.flagging.top_fraction or 0.10, training.labels), bundle_dir / "evaluation")
    io.atomic_write_text(bundle_dir / "evaluation" / "metrics.json", metrics_json(result.metrics))
    io.point_latest(bundle_dir)  # only a complete bundle becomes latest
    tracked = None
    if cfg.tracking.enabled:
        with err.status("Logging to MLflow…"):
            try:
                tracked = log_training_run(
                    cfg=cfg.tracking, base_dir=Path.cwd(), params={"as_of": str(t.date()), "snapshots": training.snapshot_dates, "rows": training.snapshot_rows, **cfg.model.model_dump()},
                    config_dump=cfg.model_dump(mode="json"), fingerprint=fingerprint, metrics=result.metrics,
                    bundle_dir=bundle_dir, figures_dir=bundle_dir / "evaluation", run_name=result.bundle.version,
                    input_example=training.example,
                )
            except Exception as exc:  # MLflow raises its own classes for an unusable store
                if type(exc).__module__.split(".")[0] != "mlflow" and not isinstance(exc, OSError):
                    raise
                raise ConfigError(
                    f"{config or 'config'}: tracking: MLflow cannot use tracking_uri {cfg.tracking.tracking_uri!r} / "
                    f"artifact_location {cfg.tracking.artifact_location!r} "
                    f"({str(exc).strip().splitlines()[0][:200]}); fix tracking.tracking_uri or set tracking.enabled: "
                    f"false. The model bundle was written: {bundle_dir}"
                ) from None
    print_training_summary(result, bundle_dir, tracked)


def _print_winback_training(training, cfg: ChurnConfig) -> None:
    """What the return model learned, or why there is none (too little history only leaves the bundle without one)."""
    if training.winback is None:
        err.print(f"[yellow]warning:[/yellow] no win-back model: {escape(str(training.winback_skipped))}")
        return
    model = training.winback
    m = model.meta["return_model"]
    out.print(
        f"Win-back: return model ROC-AUC {m['model']['roc_auc']:.3f} (logistic baseline {m['logistic']['roc_auc']:.3f}, "
        f"ECE {m['model']['ece']:.4f}) on {m['rows']['validation']:,} later churners; {model.meta['return_rate']:.1%} of "
        f"{model.meta['training_rows']:,} earlier churners came back; a won-back customer stays {model.expected_months:.1f} "
        f"months (Kaplan-Meier over {model.meta['stays']['runs']:,} returns, up to {cfg.winback.horizon_months:g})."
    )


def _print_uplift_training(bundle, cfg: ChurnConfig) -> None:
    """Which recorded actions' effects were learned (for flagging.strategy uplift and value), or why none was."""
    info = bundle.meta.get("uplift") or {}
    if "actions" in info:
        shares = info.get("theta") or {}

        def said(a: str, n: int) -> str:
            if a not in shares:
                return f"{a} ({n:,} treated)"
            share = float(shares[a])
            return f"{a} ({n:,} treated, {share:.2f} of its cause's log-odds)" if share > 0 else f"{a} ({n:,} treated, not shown to help)"

        learned = ", ".join(said(a, n) for a, n in info["treated"].items())
        out.print(f"Uplift ({info.get('learner', 't_learner')}): learned what {learned} save, against the customers left alone "
                  "(flagging.strategy: uplift or value).")
        if shares and not any(float(v) > 0 for v in shares.values()) and cfg.flagging.strategy != "risk":
            err.print(f"[yellow]warning:[/yellow] no recorded action was shown to help: flagging.strategy {cfg.flagging.strategy} "
                      "will flag nobody; keep flagging.strategy: risk or record more outcomes")
    elif cfg.flagging.strategy != "risk":
        err.print(f"[yellow]warning:[/yellow] no uplift model ({escape(str(info.get('not_trained', 'not learned')))}): "
                  f"scoring with flagging.strategy {cfg.flagging.strategy} will refuse this bundle")


def _check_staleness(loaded, t: pd.Timestamp, data: Path, limit: int | None) -> None:
    """Warn (or, past ``limit``, refuse) when T lies far beyond the newest row: the feed has probably stopped."""
    newest, table = loaded.newest
    if newest is None:
        return
    gap = (t - newest.normalize()).days
    message = (f"{data}: --as-of {t.date()} is {gap} days after the newest row dated by then ({newest.date()}, in {table}); "
               "customers would be scored as if nothing had happened since")
    if limit is not None and gap > limit:
        raise InputError([f"{message}; refused by --max-staleness-days {limit}: bring the data up to date or pass an earlier --as-of"])
    if gap > (limit if limit is not None else STALE_WARNING_DAYS):
        err.print(f"[yellow]warning:[/yellow] {escape(message)}")


_UNSEEN_WARNING = 0.05


def _check_model_fit(shares: dict[str, dict[str, float]], limit: float, version: str) -> dict[str, dict[str, float]]:
    """Refuse a model whose categories the data mostly does not know; warn feature by feature below that.

    Values outside the training range are only recorded (the manifest's ``model_fit``): days since an event and
    tenure grow past the training maximum in every healthy nightly run, so a warning there would cry wolf.
    """
    unseen = shares.get("unseen_levels", {})
    if unseen:
        mean = sum(unseen.values()) / len(unseen)
        if mean > limit:  # a limit of 0 refuses any unseen level, never a perfect fit
            worst = sorted(unseen.items(), key=lambda kv: -kv[1])[:5]
            raise ModelError(
                f"model {version}: {mean:.0%} of category values on average are levels it never saw in training "
                f"({', '.join(f'{n} {v:.0%}' for n, v in worst)}; limit scoring.max_unseen_level_share {limit:.0%}); "
                "it was trained on other data: retrain on this portfolio"
            )
    for name, share in unseen.items():
        if share > _UNSEEN_WARNING:
            err.print(f"[yellow]warning:[/yellow] {escape(name)}: {share:.0%} of values are levels model {version} never saw in training (scored as missing)")
    return {check: {n: round(v, 4) for n, v in per.items()} for check, per in shares.items()}


def _within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both already resolved)."""
    return path == folder or folder in path.parents


def _is_bundle_dir(folder: Path) -> bool:
    return (folder / "model.txt").is_file() and (folder / "bundle.json").is_file()


def _guard_output(
    out_file: Path, *, data: Path, model: Path | None = None, rejects: Path | None = None, kind: str = "scores"
) -> Path:
    """Refuse an --out that would destroy an input, the model or another output's pair, or that names a folder.

    ``kind`` is what the command publishes (``scores``, ``winback`` or ``features``): an output whose manifest
    says it is another kind of file, or another file of the same name stem, is not replaced.
    """
    option = "--out"
    if str(out_file).startswith("models:"):
        raise typer.BadParameter(f"{out_file} reads as a registry reference; outputs are files: give a path such as out/scores.csv", param_hint=option)
    manifest = io.manifest_path(out_file)
    try:
        recorded = io.read_manifest(out_file)
    except (ChurnMLError, OSError):
        recorded = {}  # an unreadable manifest is replaced with the pair it belongs to
    if recorded:
        theirs = recorded.get("kind", "scores")
        their_file = Path(str((recorded.get("output") or {}).get("path", out_file)))
        if theirs != kind:
            raise typer.BadParameter(f"{out_file} is the published {theirs} file of an earlier run ({manifest}); write the {kind} output elsewhere", param_hint=option)
        if their_file.name != out_file.name:
            raise typer.BadParameter(
                f"{manifest} belongs to {their_file.name}; {out_file.name} would share it: give this output another name stem",
                param_hint=option,
            )
    if out_file.is_symlink():
        try:
            out_file.resolve(strict=False)
        except (RuntimeError, OSError):
            raise typer.BadParameter(f"{out_file} is a symlink loop; point it at a file or remove it", param_hint=option) from None
    if io.is_publication_file(out_file):
        raise typer.BadParameter(f"{out_file} is part of how another output is published (its lock, link or run folder); give a plain file name", param_hint=option)
    if out_file.name.endswith(".manifest.json"):
        raise typer.BadParameter(f"{out_file} is a run manifest's name; give the scores file's name (its manifest goes beside it)", param_hint=option)
    if out_file.is_dir():
        raise typer.BadParameter(f"{out_file} is a directory; give a file name such as {out_file / 'scores.csv'}", param_hint=option)
    targets = {Path(os.path.realpath(p)) for p in (out_file, io.manifest_path(out_file))}
    try:
        inputs = {Path(os.path.realpath(p)) for p in io.find_tables(data).values()}
    except ChurnMLError:
        inputs = set()  # the load itself reports what is wrong with --data
    if targets & inputs:
        raise typer.BadParameter(f"{out_file} is an input table of {data}; write it elsewhere", param_hint=option)
    data_dir = Path(os.path.realpath(data))
    for target in targets:
        if target.parent == data_dir and io.table_name_like(target.name):
            raise typer.BadParameter(
                f"{out_file} would be read as the {io.table_name_like(target.name)} table of {data} next time; write it elsewhere",
                param_hint=option,
            )
    folder = rejects or data / "rejects"
    if any(t.parent == Path(os.path.realpath(folder)) for t in targets):
        raise typer.BadParameter(f"{out_file} lies in the rejects folder {folder}, which validation rewrites; write it elsewhere", param_hint=option)
    bundles = [Path(os.path.realpath(model))] if model is not None else []
    bundles += [t.parent for t in targets if _is_bundle_dir(t.parent)]
    for bundle_dir in bundles:
        if any(_within(t, bundle_dir) for t in targets):
            raise typer.BadParameter(f"{out_file} lies inside the model bundle {bundle_dir}; write it elsewhere", param_hint=option)
    return out_file


def _guard_rejects(rejects: Path | None, data: Path) -> None:
    """The rejects folder may not be the data folder (nor inside a table's path): it would overwrite input tables."""
    if rejects is None:
        return
    where = Path(os.path.realpath(rejects))
    if where == Path(os.path.realpath(data)):
        raise typer.BadParameter(f"{rejects} is the data folder; rejected rows would overwrite its tables: give another folder", param_hint="--rejects")
    # Rejects files are named after their tables and stale ones are removed: a folder holding a table that is not a
    # rejects file (another dataset) would lose it.
    try:
        tables = io.find_tables(where) if where.is_dir() else {}
    except ChurnMLError:
        tables = {}
    for name, path in tables.items():
        header = ""
        if path.suffix == ".csv":
            with contextlib.suppress(OSError, UnicodeDecodeError), path.open(encoding="utf-8") as fh:
                header = fh.readline()
        if "reason" not in header.split(",")[:3]:
            raise typer.BadParameter(
                f"{rejects} holds {path.name}, a {name} table, not a rejects file; rejected rows would replace or remove it: give a folder of its own",
                param_hint="--rejects",
            )


_REPORT_ENTRIES = {"index.html", "flagged.csv", "assets", "customers"}  # what churnml report writes, and all it may replace


def _guard_report_out(out_dir: Path, inputs: list[Path]) -> None:
    """The report replaces its --out folder whole: only a new folder or an earlier report (nothing but its own
    files) may be replaced, never a folder holding scores, data or a model, nor one the inputs lie in."""
    option = "--out"
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; the report replaces its --out folder whole: give a new folder or an earlier report's", param_hint=option)
    where = Path(os.path.realpath(out_dir))
    for path in inputs:
        if _within(Path(os.path.realpath(path)), where):
            raise typer.BadParameter(f"{out_dir} holds {path}, which the report reads; the report replaces its --out folder whole: give it a folder of its own", param_hint=option)
    names = {p.name for p in out_dir.iterdir()}
    if "index.html" not in names:
        raise typer.BadParameter(f"{out_dir} is a folder that holds no report (no index.html); the report replaces its --out folder whole: give a new folder or an earlier report's", param_hint=option)
    foreign = sorted(names - _REPORT_ENTRIES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise typer.BadParameter(
            f"{out_dir} holds files that are not the report's ({shown}); the report replaces its --out folder whole, "
            "so they would be lost: give the report a folder of its own",
            param_hint=option,
        )


_IMPORT_OPTIONS = {"id_column": "--id-column", "tenure_column": "--tenure-column", "churn_column": "--churn-column",
                   "price_column": "--price-column", "plan_column": "--plan-column", "exclude_columns": "--exclude"}


def _as_options(problem: str) -> str:
    """An import problem in the words of the command line: ``--id-column`` where the spec says ``id_column``."""
    return re.sub(r"\b(" + "|".join(_IMPORT_OPTIONS) + r")\b", lambda m: _IMPORT_OPTIONS[m.group(1)], problem)


def _refuse_dangling_link(folder: Path, option: str = "--out") -> None:
    if folder.is_symlink() and not folder.exists():
        raise typer.BadParameter(f"{folder} is a link to {os.readlink(folder)}, which does not exist; create its target or give another folder", param_hint=option)


def _guard_import_out(source: Path, out_dir: Path) -> None:
    """The dataset folder may not hold the export, be a file, or be a model bundle: its tables would overwrite them."""
    option = "--out"
    _refuse_dangling_link(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; give a folder for the dataset's tables", param_hint=option)
    where = Path(os.path.realpath(out_dir))
    export = Path(os.path.realpath(source))
    if _within(export.parent, where):
        raise typer.BadParameter(
            f"{out_dir} holds the export {source}; its tables, rejects and suggested config would sit beside or over it: "
            "give the dataset a folder of its own",
            param_hint=option,
        )
    if _is_bundle_dir(where):
        raise typer.BadParameter(f"{out_dir} is a model bundle; give the dataset a folder of its own", param_hint=option)
    foreign = io.import_conflicts(out_dir)
    if foreign:
        named = ", ".join(p.name for p in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise typer.BadParameter(
            f"{out_dir} already holds tables an earlier import-snapshot did not write ({named}); the import would "
            "mix with them into one dataset from two sources: give an empty folder, or remove them first",
            param_hint=option,
        )


def _open_model(model: Path, config: Path | None):
    """The bundle at ``model`` (verified against the --config signing key), the configuration to use it with, and
    the registry version it came from (None for a folder).

    ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS`` are fetched from the MLflow registry of the --config's
    ``tracking`` section into a temporary folder and verified exactly as a folder is.
    """
    from churnml import tracking

    given = _config(config)  # read once: the signing key and the registry both come from it
    key = _signing_key(given, config) if config else None
    if not tracking.is_registry_reference(model):
        bundle = io.read_bundle(model, key=key)
        return bundle, _scoring_config(config, bundle, model), None
    settings = given.tracking
    text = _registry_text(model)
    if not tracking.is_valid_reference(text):
        raise typer.BadParameter(f"{text} is not a registry reference; use models:/NAME/VERSION or models:/NAME@ALIAS, or a bundle folder", param_hint="--model")
    found = tracking.resolve_registry_model(text, settings, Path.cwd())
    with tempfile.TemporaryDirectory(prefix="churnml-registry-") as folder:
        local = tracking.download_bundle(found, settings, Path.cwd(), Path(folder))
        try:
            bundle = io.read_bundle(local, key=key)
        except ModelError as exc:
            # Name what the user gave and where the registry keeps it, not the temporary copy.
            where = f"{found.reference} (v{found.version}, run {found.run_id} artifact 'bundle')"
            raise ModelError(str(exc).replace(str(local), where)) from None
    return bundle, _scoring_config(config, bundle, model), found


def _registry_text(model: Path) -> str:
    """A --model given as a registry reference, as typed (a Path folds the scheme's slashes)."""
    text = str(model)
    return "models:/" + text.removeprefix("models:").lstrip("/")


def _run_manifest(kind: str, t: pd.Timestamp, bundle, model: Path, cfg: ChurnConfig, loaded, out_file: Path, run, rows: int, digest: str, started: float, registry=None, **details) -> dict:
    """The manifest published beside a scores or win-back file: what was read, with which model, what was written."""
    return {
        "as_of": str(t.date()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": kind,
        "model": {"version": bundle.version, "path": str(model), "trained_as_of": bundle.meta.get("as_of"),
                  **({"registry": registry.record()} if registry is not None else {})},
        "config_hash": cfg.fingerprint(),
        "inputs": {name: {"file": rep.source, "read": rep.read, "accepted": rep.accepted, "rejected": rep.rejected} for name, rep in loaded.reports.items()},
        "output": {"path": str(out_file), "rows": rows, "sha256": digest, "run": run.folder.name.removesuffix(".tmp")},
        **details,
        "duration_seconds": round(time.perf_counter() - started, 2),
    }


def _scoring_config(config: Path | None, bundle, model: Path | None = None) -> ChurnConfig:
    """The training configuration unless --config is given; features and labels must match the model's."""
    from churnml.config import parse_config

    try:
        trained = parse_config(bundle.meta.get("config"), f"{model}/bundle.json (model {bundle.version})" if model else f"model {bundle.version} bundle.json")
    except ConfigError as exc:
        raise ModelError(f"{exc}; the bundle's own configuration is unusable: retrain or restore the bundle") from None
    if config is None:
        return trained
    cfg = _config(config)
    for section in ("features", "labels"):
        if getattr(cfg, section) != getattr(trained, section):
            raise ModelError(
                f"{config}: section '{section}' differs from the one model {bundle.version} was trained with; "
                "features would not mean what the model learned. Use the training values or retrain"
            )
    return cfg


def _monitoring_summary(monitoring: dict) -> dict:
    """The manifest's monitoring section: what drifted and moved, without the raw bin counts (kept in the history)."""
    summary = {k: v for k, v in monitoring.items() if k not in ("bin_counts",)}
    alerts = []
    drifted = monitoring.get("drifted_features") or []
    if drifted:
        alerts.append(f"{len(drifted)} feature(s) drifted from the training reference (PSI >= threshold): {', '.join(drifted[:8])}"
                      + (" ..." if len(drifted) > 8 else ""))
    if monitoring.get("prediction_drifted"):
        alerts.append("the predicted probabilities drifted from the training reference")
    for feed in monitoring.get("feeds") or []:
        if feed.get("kind") == "fell":  # a log that rose is listed in the manifest: an incident wave does that too
            alerts.append(f"table {feed['table']}: rows of the last 30 days per active customer {feed['per_customer_before']:.3g} "
                          f"(median of the recent runs) -> {feed['per_customer_now']:.3g} ({feed['change']:+.0%}): a broken feed")
    summary["alerts"] = alerts
    return summary


def _print_monitoring(watch: dict) -> None:
    expected = watch.get("expected") or {}
    if expected:
        out.print(f"Expected without outcomes: {expected['expected_churners']:,.0f} leavers, ROC-AUC {expected['expected_roc_auc']:.3f}, "
                  f"precision of the flagged {expected['expected_precision_flagged']:.3f}.")
    moves = watch.get("transitions")
    if moves:
        out.print(f"Since {watch.get('previous_as_of')}: {moves['newly_flagged']:,} newly flagged, {moves['no_longer_flagged']:,} no longer flagged.")
    for alert in watch.get("alerts", []):
        err.print(f"[yellow]Monitoring:[/yellow] {alert}")


@app.command()
def score(
    data: DataOpt,
    as_of: AsOfOpt,
    model: ModelOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Scores CSV to write (atomically); a manifest JSON goes beside it.")],
    config: ConfigOpt = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    max_staleness_days: Annotated[int | None, typer.Option("--max-staleness-days", min=0, help="Refuse to score when T lies more than this many days after the newest row in the data (exit 4); without it, more than 31 days only warns.")] = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Publish the scores, then exit 10 when a feature or the predictions drifted past monitoring.psi_drift or a log's recent rows per customer fell past monitoring.feed_max_drop (a broken feed): a scheduler stops the CRM import.")] = False,
) -> None:
    """The nightly job: score every active customer, explain and prescribe for the flagged ones."""
    import json

    from churnml import pipeline
    from churnml.engine import engine as start_engine

    started = time.perf_counter()
    _guard_rejects(rejects, data)
    out_file = _guard_output(io.output_target(out_file), data=data, model=model, rejects=rejects)
    # holds the output's lock from the start to publication
    with io.publish_scores(out_file) as run, start_engine(engine, scheduler, progress=True) as eng, contextlib.ExitStack() as stack:
        bundle, cfg, registry = _open_model(model, config)
        t = as_timestamp(as_of)
        dataset, loaded = _load(data, rejects, max_reject_share=cfg.validation.max_reject_share, engine=eng, newest_at=t)
        _check_staleness(loaded, t, data, max_staleness_days)
        keep_history = cfg.monitoring.history
        run.keep = cfg.monitoring.keep_runs
        history_root = io.history_folder(out_file, cfg.monitoring.history_dir)
        if keep_history and cfg.monitoring.history_dir is not None:
            run.keep_history_in(history_root)
        previous = io.previous_run(out_file, t, history_root) if keep_history else None
        sink: Callable[[int, pd.DataFrame], None] | None = io.FeatureSink(str(run.history)) if keep_history else None
        if sink is not None and eng.name == "local":  # Dask workers write their own parts, each in its process
            sink = stack.enter_context(io.written_behind(sink))
        result = pipeline.score(dataset, t, bundle, cfg, engine=eng, progress=True, sink=sink, previous=previous)
        stack.close()  # every part's vectors are on disk before the history is completed and published
        _report_engine(eng)
        if result.scores.empty:
            raise InputError([f"{data}: no customer is active at {t.date()}; check --as-of against the subscriptions"])
        fit = _check_model_fit(result.fit_shares(), cfg.scoring.max_unseen_level_share, bundle.version)
        record = result.record(t, bundle.version, cfg)
        counts = record["counts"]
        if keep_history and result.history is not None:
            # Arrow writes the history (outside the GIL) while pandas writes the CSV.
            keep = stack.enter_context(io.written_behind(lambda _part, customers: io.write_history(run.history, customers, record)))
            keep(0, result.history)
        digest = io.write_scores(result.scores, run.scores)
        stack.close()  # the history is complete before the manifest is
        watch = _monitoring_summary(result.monitoring)
        if keep_history and cfg.monitoring.history_dir is not None:
            watch["history_folder"] = str(history_root.absolute())  # where report, explain and backtest look
        manifest = _run_manifest(
            "scores", t, bundle, model, cfg, loaded, out_file, run, len(result.scores), digest, started, registry,
            rejects_dir=str(rejects or data / "rejects") if loaded.total_rejected else None,
            counts=counts,
            flagging_strategy=cfg.flagging.strategy,
            model_fit=fit,
            stages=result.log.stages,
            engine=eng.summary(),
            explain={"method": "lightgbm pred_contrib (TreeSHAP)", "customers": counts["flagged"], "seconds": round(result.explain_seconds, 3)},
            monitoring=watch,
        )
        io.atomic_write_text(run.manifest, json.dumps(manifest, indent=2, default=str) + "\n")
    out.print(
        f"Scored {counts['active_customers']:,} active customers at {t.date()} with model {bundle.version}: "
        f"{counts['flagged']:,} flagged; by cause {counts['flagged_by_cause']}; actions {counts['flagged_by_action']}; "
        f"{counts['referral_candidates']:,} referral candidates."
    )
    out.print(f"Scores: {out_file}  (manifest: {io.manifest_path(out_file)}, {manifest['duration_seconds']} s)")
    _print_monitoring(watch)
    if fail_on_drift and watch["alerts"]:
        raise DriftError("; ".join(watch["alerts"]) + f". The scores are published ({out_file}); check the inputs and the "
                         "manifest's monitoring section before importing them, or retrain if the population has changed")


@app.command()
def winback(
    data: DataOpt,
    as_of: AsOfOpt,
    model: ModelOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Win-back CSV to write (atomically); a manifest JSON goes beside it.")],
    config: ConfigOpt = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    max_staleness_days: Annotated[int | None, typer.Option("--max-staleness-days", min=0, help="Refuse when T lies more than this many days after the newest row in the data (exit 4).")] = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Churned customers worth winning back: why they left, the chance they return, what a return is worth."""
    import json

    from churnml import pipeline
    from churnml.engine import engine as start_engine
    from churnml.modeling.winback import winback_model

    started = time.perf_counter()
    _guard_rejects(rejects, data)
    out_file = _guard_output(io.output_target(out_file), data=data, model=model, rejects=rejects, kind="winback")
    with io.publish_scores(out_file) as run, start_engine(engine, scheduler, progress=True) as eng:
        bundle, cfg, registry = _open_model(model, config)
        trained = winback_model(bundle, str(model))
        if cfg.winback.return_window_days != trained.meta.get("return_window_days", cfg.winback.return_window_days):
            raise ModelError(
                f"{config}: winback.return_window_days {cfg.winback.return_window_days} differs from the "
                f"{trained.meta['return_window_days']} days the return model of {bundle.version} learned; use it or retrain"
            )
        t = as_timestamp(as_of)
        dataset, loaded = _load(data, rejects, max_reject_share=cfg.validation.max_reject_share, engine=eng, newest_at=t)
        _check_staleness(loaded, t, data, max_staleness_days)
        result = pipeline.winback(dataset, t, bundle, cfg, model=trained, engine=eng, progress=True)
        _report_engine(eng)
        digest = io.write_winback(result.table, run.scores)
        manifest = _run_manifest(
            "winback", t, bundle, model, cfg, loaded, out_file, run, len(result.table), digest, started, registry,
            window_days=[cfg.winback.min_days, cfg.winback.max_days],
            value_rule={
                "margin_share": cfg.winback.margin_share, "cost": cfg.winback.cost_multiple * cfg.winback.acquisition_cost,
                "expected_months": trained.expected_months, "min_expected_value": cfg.winback.min_expected_value,
            },
            counts=result.counts,
            engine=eng.summary(),
        )
        io.atomic_write_text(run.manifest, json.dumps(manifest, indent=2) + "\n")
    c = result.counts
    out.print(
        f"Win-back at {t.date()}: {c['listed']:,} customers churned {cfg.winback.min_days}-{cfg.winback.max_days} days ago "
        f"and have not returned; by cause {c['by_cause']}; {c['passing_gate']:,} pass the value gate; actions {c['by_action']}."
    )
    out.print(f"Win-back list: {out_file}  (manifest: {io.manifest_path(out_file)}, {manifest['duration_seconds']} s)")


@app.command()
def features(
    data: DataOpt,
    as_of: AsOfOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Parquet file to write (one row per active customer).")],
    config: ConfigOpt = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
) -> None:
    """Write the point-in-time feature vector of every customer active at T, for data scientists."""
    from churnml import pipeline
    from churnml.engine import engine as start_engine

    _guard_rejects(rejects, data)
    out_file = _guard_output(io.output_target(out_file), data=data, rejects=rejects, kind="features")
    cfg = _config(config)
    t = as_timestamp(as_of)
    with start_engine(engine, scheduler, progress=True) as eng:
        dataset, _ = _load(data, rejects, max_reject_share=cfg.validation.max_reject_share, engine=eng)
        started = time.perf_counter()
        frame = pipeline.build_features(dataset, t, cfg, engine=eng)
        _report_engine(eng)
    with io.atomic_path(out_file) as tmp:
        frame.to_parquet(tmp)
    out.print(f"{len(frame):,} customers x {frame.shape[1]} features at {t.date()} in {time.perf_counter() - started:.1f} s -> {out_file}")


@app.command()
def partition(
    data: DataOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="New folder for the partitioned dataset (must not exist).")],
    buckets: Annotated[int, typer.Option("--buckets", min=1, max=100_000, help="Customer buckets: pick so one bucket fits comfortably in a worker's memory.")],
    config: ConfigOpt = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
) -> None:
    """Rewrite a dataset as hive-style Parquet, one part per table and bucket of customers (stable id hash)."""
    _guard_rejects(rejects, data)
    if out_dir.exists() or out_dir.is_symlink():
        raise typer.BadParameter(f"{out_dir} exists; give a new folder (a partitioned dataset is written whole, never into or over another)", param_hint="--out")
    if _within(Path(os.path.realpath(out_dir)), Path(os.path.realpath(data))):
        raise typer.BadParameter(f"{out_dir} lies inside the dataset {data}; its parts would be read as part of it: write it elsewhere", param_hint="--out")
    cfg = _config(config)
    dataset, _ = _load(data, rejects, max_reject_share=cfg.validation.max_reject_share)
    if not isinstance(dataset, Dataset):  # re-bucketing a partitioned dataset: buckets are cut from the whole
        dataset = io.load_dataset(data).accepted
    with err.status(f"Writing {buckets:,} buckets…"):
        record = io.write_partitioned(dataset, out_dir, buckets)
    rows = record["tables"]
    sizes = list(record["rows_per_bucket"]["subscriptions"].values())
    out.print(
        f"Partitioned {rows['subscriptions']:,} subscription rows and {sum(rows.values()) - rows['subscriptions']:,} rows of "
        f"{len(rows) - 1} other tables into {buckets:,} buckets in {out_dir}; subscription rows per bucket "
        f"{min(sizes, default=0):,} to {max(sizes, default=0):,}. Every command reads it as --data {out_dir}."
    )


@app.command()
def explain(
    data: DataOpt,
    as_of: AsOfOpt,
    model: ModelOpt,
    customer: Annotated[str, typer.Option("--customer", help="The customer id, exactly as in the data.")],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    config: ConfigOpt = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Contributions shown each way.")] = 6,
    scores: Annotated[Path | None, typer.Option("--scores", help="A scores file `score` writes nightly: with it, what moved the customer's risk since the latest run of it dated before --as-of.")] = None,
) -> None:
    """One customer's risk explained in plain language: probability, cause, what pushes risk up and down, action."""
    import json

    from churnml import pipeline
    from churnml.errors import NotFoundError
    from churnml.lifecycle import active_customers

    if fmt not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    bundle, cfg, _ = _open_model(model, config)
    t = as_timestamp(as_of)
    with err.status(f"Loading {data}…"):
        handle = io.open_partitioned(data)
        dataset = handle if handle is not None else io.load_dataset(data).accepted
        mine = pipeline.customers_of(dataset, [customer])
    if customer not in active_customers(mine.known_at(t).subscriptions, t):
        known = customer in set(mine.subscriptions["customer_id"])
        raise NotFoundError(
            f"customer {customer!r} is {'not active' if known else 'not in the data'} at {t.date()}; "
            "ids are matched exactly as text (00123 and 123 differ)"
        )
    ex = pipeline.explain(dataset, t, bundle, cfg, [customer])
    summary, rows = ex.customer(customer)
    change = None
    previous = io.previous_run(scores, t, io.recorded_history_folder(scores)) if scores is not None else None
    if previous is not None and ex.features is not None:
        from churnml.features import feature_registry

        registry = feature_registry(cfg, dict(mine.customers.drop(columns="customer_id").dtypes))
        found = pipeline.change_since(previous, ex, bundle, registry)
        change = found.loc[customer] if customer in found.index and pd.notna(found.loc[customer, "previous_probability"]) else None
    up = rows[rows["contribution"] > 0].head(top)
    down = rows[rows["contribution"] < 0].head(top)
    if fmt == "json":
        payload = {
            "customer_id": customer,
            "as_of_date": str(t.date()),
            "model_version": bundle.version,
            **{k: (v.item() if hasattr(v, "item") else v) for k, v in summary.items()},
            "raises_risk": up[["feature", "family", "value", "contribution", "meaning"]].to_dict("records"),
            "lowers_risk": down[["feature", "family", "value", "contribution", "meaning"]].to_dict("records"),
            "since_previous_run": None if change is None else {k: (v.item() if hasattr(v, "item") else v) for k, v in change.items()},
        }
        print(json.dumps(payload, indent=2, default=str))
        return
    from rich.markup import escape

    out.print(f"[bold]Customer {escape(customer)}[/bold] at {t.date()} (model {bundle.version})")
    out.print(
        f"Churn probability within {cfg.labels.horizon_days} days: [bold]{summary['churn_probability']:.1%}[/bold] "
        f"({summary['risk_tier']} risk); lifecycle stage: {summary['lifecycle_stage']}."
    )
    out.print(
        f"Main cause: [bold]{summary['primary_cause']}[/bold], carrying {summary['cause_share']:.0%} of the cause split "
        f"(price {summary['price_share']:.0%}, service {summary['service_share']:.0%}, other {summary['other_share']:.0%})."
    )
    for title, part in (("What raises the risk", up), ("What lowers the risk", down)):
        out.print(f"\n[bold]{title}[/bold]")
        if part.empty:
            out.print("  (nothing)")
        for _, r in part.iterrows():  # at most --top rows of one customer
            out.print(f"  {'+' if r['contribution'] > 0 else '-'} {escape(str(r['meaning']))}  [dim]({r['family']}, {r['contribution']:+.2f} log-odds)[/dim]")
    if change is not None:
        parts = ", ".join(f"{f} {change[f'{f}_part']:+.2f}" for f in ("price", "service", "other"))
        out.print(
            f"\n[bold]Since {change['previous_as_of']}[/bold]: {change['previous_probability']:.1%} -> {summary['churn_probability']:.1%} "
            f"({change['risk_change']:+.1%}); moved most by {change['change_cause'] or 'nothing'}"
            + (f": {escape(str(change['change_reason']))}" if change["change_reason"] else "")
            + f". Log-odds by family: {parts}" + (f", model {change['model_part']:+.2f}" if change["model_part"] else "") + "."
        )
    elif scores is not None:
        out.print(f"\n(no earlier run of {scores} before {t.date()} scored this customer)")
    out.print(f"\n[bold]Recommended action: {summary['recommended_action']}[/bold] — {summary['action_reason']}.")


@app.command()
def promote(
    model: Annotated[Path, typer.Option("--model", help="Registered version to promote: models:/NAME/VERSION or models:/NAME@ALIAS.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to point at it (moved from any other version).")] = "champion",
    config: ConfigOpt = None,
) -> None:
    """Make a registered model the one the nightly job scores with (`--model models:/NAME@champion`).

    The version's bundle is fetched and verified first (checksums, signing key): an altered model is never promoted.
    """
    from churnml import tracking

    if not tracking.is_registry_reference(model):
        raise typer.BadParameter("give a registry reference, models:/NAME/VERSION or models:/NAME@ALIAS", param_hint="--model")
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", alias) or alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise typer.BadParameter(
            "an alias is a lower-case letter, then lower-case letters, digits, _ or - (not 'latest' or v<number>, which "
            "MLflow reserves; lower case so that @Champion never stands beside @champion)",
            param_hint="--alias",
        )
    bundle, _, found = _open_model(model, config)
    if found is None:  # a registry reference resolves to a version or raises; this guards the type, not a case
        raise ModelError(f"{model}: no registry version resolved")
    before = set(found.aliases)
    moved = tracking.set_alias(found, alias, _config(config).tracking, Path.cwd())
    out.print(
        f"{moved.name} v{moved.version} (model {bundle.version}, run {moved.run_id}) is now @{alias}"
        f"{' (it already was)' if alias in before else ''}; aliases: {', '.join('@' + a for a in moved.aliases)}. "
        f"Score with --model models:/{moved.name}@{alias}."
    )


def _import_spec(preset, reference_date, id_column, tenure_column, churn_column, price_column, plan_column, exclude, churn_window_days):
    """The import's column mapping from the command line: a preset, then the options that override it."""
    from churnml.importers import SnapshotImportSpec

    if preset == "telco":
        spec = SnapshotImportSpec.telco(reference_date)
        overrides = {k: v for k, v in dict(id_column=id_column, tenure_column=tenure_column, churn_column=churn_column, price_column=price_column, plan_column=plan_column).items() if v}
        spec = SnapshotImportSpec.model_validate({**spec.model_dump(), **overrides, "exclude_columns": list(exclude or []), "churn_window_days": churn_window_days})
    else:
        missing = [f"--{n}" for n, v in (("id-column", id_column), ("tenure-column", tenure_column), ("churn-column", churn_column)) if not v]
        if missing:
            raise typer.BadParameter(f"give {', '.join(missing)} or --preset telco")
        spec = SnapshotImportSpec(
            id_column=id_column, tenure_column=tenure_column, churn_column=churn_column, reference_date=reference_date,
            price_column=price_column, plan_column=plan_column, exclude_columns=list(exclude or []), churn_window_days=churn_window_days,
        )
    return spec


@app.command("import-snapshot")
def import_snapshot(
    source: Annotated[Path, typer.Option("--input", help="One-row-per-customer export (CSV or Parquet).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the dataset into.")],
    reference_date: Annotated[str, typer.Option("--reference-date", callback=_iso_date, help="The day the export was taken (T).")],
    preset: Annotated[str | None, typer.Option("--preset", help="Column preset: telco (IBM Telco Customer Churn).")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column")] = None,
    tenure_column: Annotated[str | None, typer.Option("--tenure-column", help="Whole months with the company at T.")] = None,
    churn_column: Annotated[str | None, typer.Option("--churn-column", help="Churned flag: yes/no, true/false, 1/0.")] = None,
    price_column: Annotated[str | None, typer.Option("--price-column", help="Monthly price.")] = None,
    plan_column: Annotated[str | None, typer.Option("--plan-column", help="Plan or product.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Column never imported (repeatable).")] = None,
    churn_window_days: Annotated[int, typer.Option("--churn-window-days", min=1, max=3650, help="Churners end within this many days after T.")] = 30,
    fmt: Annotated[str, typer.Option("--format", callback=_table_format, help="Table format: csv or parquet.")] = "csv",
    max_reject_share: Annotated[float, typer.Option("--max-reject-share", min=0.0, max=1.0, help="Refuse the export (status 4, no dataset written) when more of its rows than this are rejected.")] = 0.2,
) -> None:
    """Map a one-row-per-customer CRM export (tenure, plan, charges, churn flag) into the input contract."""
    import yaml

    from churnml.importers import import_snapshot as run_import

    if preset not in (None, "telco"):
        raise typer.BadParameter("the only preset is telco", param_hint="--preset")
    try:
        spec = _import_spec(preset, reference_date, id_column, tenure_column, churn_column, price_column, plan_column, exclude, churn_window_days)
    except pydantic.ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    _guard_import_out(source, out_dir)
    export = io.read_text_table(source)
    if len(export.frame) == 0 and len(export.malformed) == 0:
        raise InputError([f"{source}: the export has a header but no rows; export the customers too"])
    try:
        result = run_import(export.frame, spec, lines=export.line_numbers(), malformed=export.malformed)
    except InputError as exc:
        raise InputError([f"{source}: {_as_options(p)}" for p in exc.problems]) from None
    refused = out_dir / io.REFUSED_IMPORT_REJECTS
    kept = "; the dataset already there is kept as it was" if (out_dir / io.IMPORT_RECORD).exists() else ""
    problem = _reject_share_problem(str(source), result.rejected, result.read, max_reject_share, "--max-reject-share", refused,
                                    f"; no dataset written{kept}")
    if problem:
        # A dataset of what is left of a broken export would train and score as if it were the portfolio.
        io.write_csv(result.rejects, refused, protect=[c for c in result.rejects.columns if c != "line"])
        raise InputError([problem])
    io.write_import(result.dataset, out_dir, fmt, result.rejects)
    rejects_path = out_dir / io.IMPORT_REJECTS
    io.atomic_write_text(out_dir / "suggested_config.yaml", yaml.safe_dump(result.suggested_config, sort_keys=False))
    if result.family_suggestions:
        table = Table(title="Suggested cause families (edit static_attribute_families to change)")
        for heading in ("column", "family", "because of"):
            table.add_column(heading)
        for column, (family, word) in result.family_suggestions.items():
            table.add_row(escape(column), family, f"'{word}' in its name or values" if word else "no price or service word")
        out.print(table)
    out.print(
        f"Imported {result.accepted:,} of {result.read:,} customers ({result.rejected:,} rejected"
        f"{f', see {rejects_path}' if result.rejected else ''}) into {out_dir}; attributes: {len(result.attributes)}. "
        f"Cause families for them: {out_dir / 'suggested_config.yaml'} (pass it with --config)."
    )
    # The export's churners end within the window after T; their labels are known only once the horizon and
    # grace have passed after the last of them (default labels settings).
    labels = ChurnConfig().labels
    ready = (pd.Timestamp(reference_date) + pd.Timedelta(days=churn_window_days + labels.horizon_days + labels.grace_days)).date()
    out.print(
        f"Next: churnml train --data {out_dir} --as-of {ready} --config {out_dir / 'suggested_config.yaml'} "
        f"(from that as-of every churner of the export is a known label, with the default labels settings)"
    )


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes its data, scores and report.")] = Path("data/demo"),
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Where the model bundle goes.")] = Path("models"),
    customers: Annotated[int, typer.Option("--customers", min=500)] = 20000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Every stage on a generated dataset, with no arguments: generate, validate, train, score, win-back, report.

    The model is trained six months before the data ends and then scores every month to the same scores file, as
    the nightly job would have: the report's monitoring section has a history, drift and matured runs to show."""
    data_dir, as_of, trained_at = workdir / "input", "2026-01-01", "2025-07-01"
    runs = [str(d.date()) for d in pd.date_range(trained_at, as_of, freq="MS")]
    steps = ["generate", "validate", "train", f"score ({len(runs)} monthly runs)", "winback", "report"]
    say = lambda i: out.rule(f"[bold]{i + 1}/{len(steps)} {steps[i]}[/bold]")  # noqa: E731
    say(0)
    generate(out_dir=data_dir, customers=customers, seed=seed, start="2024-01-01", months=24, fmt="csv")
    say(1)
    validate(data=data_dir, as_of=as_of, rejects=workdir / "rejects", strict=True)
    say(2)
    train(data=data_dir, as_of=trained_at, config=None, model_dir=model_dir, rejects=workdir / "rejects")
    say(3)
    scores_path = workdir / "scores.csv"
    for day in runs:
        out.print(f"[bold]Run of {day}[/bold]")
        score(data=data_dir, as_of=day, model=model_dir / "latest", out_file=scores_path, config=None, rejects=workdir / "rejects")
    say(4)
    winback_path = workdir / "winback.csv"
    winback(data=data_dir, as_of=as_of, model=model_dir / "latest", out_file=winback_path, config=None, rejects=workdir / "rejects")
    say(5)
    index = report(scores=scores_path, out_dir=workdir / "report", winback_file=winback_path)
    out.rule("[bold]done[/bold]")
    out.print(f"Scores CSV for the CRM: {scores_path}")
    out.print(f"Win-back list: {winback_path}")
    out.print(f"Analysts' report: {index}")
    out.print(f"Explain one customer: churnml explain --data {data_dir} --as-of {as_of} --model {model_dir / 'latest'} --customer ID")


def _kept_runs(runs: Path) -> list[io.PastRun]:
    """The runs a scores file kept (``runs``: the scores file, or its histories' folder); refused when none."""
    from churnml.errors import NotFoundError

    past = io.past_runs(runs if runs.is_dir() else io.recorded_history_folder(runs))
    if not past:
        raise NotFoundError(f"{runs}: no run with a history (score keeps one per run unless monitoring.history is false); "
                            "pass the scores file the nightly job writes, or its run histories' folder")
    return past


@app.command()
def backtest(
    data: DataOpt,
    runs: Annotated[Path, typer.Option("--runs", help="A scores file `score` writes nightly (its runs are read), or its `.FILE.csv.runs` folder.")],
    out_file: Annotated[Path, typer.Option("--out", help="Backtest table (CSV, one row per run date); a PNG of it goes beside it.")],
    config: ConfigOpt = None,
) -> None:
    """Realised performance of past runs: each run whose horizon and grace have passed in --data is joined with
    what happened: ROC-AUC, top-decile lift, precision of the flagged, predicted against observed churn."""
    from churnml import pipeline, tracking
    from churnml.modeling.backtest import outcomes_known_until
    from churnml.plots import backtest_figure

    cfg = _config(config)
    past = _kept_runs(runs)
    out_file = _guard_output(out_file, data=data)
    dataset = io.load_dataset(data).accepted
    newest = outcomes_known_until(dataset)
    if newest is None:
        raise InputError([f"{data}: no dated row; the outcomes of past runs cannot be known"])
    table = pipeline.backtest(dataset.subscriptions, [(r.run, r.customers(["customer_id", "churn_probability", "flagged"])) for r in past], newest, cfg)
    io.write_csv(table, out_file, protect=["as_of", "model_version", "matures"])
    figure = out_file.with_suffix(".png")
    io.save_figures({figure.stem: backtest_figure(table)}, figure.parent)
    matured = table[table["matured"]]
    if cfg.tracking.enabled and len(matured):
        tracking.log_backtest(matured, cfg.tracking, Path.cwd())
    out.print(f"Backtest of {len(table)} run(s), {len(matured)} matured by {pd.Timestamp(newest).date()}: {out_file} (plot {figure})")
    for r in matured.itertuples():
        out.print(f"  {r.as_of}: ROC-AUC {r.roc_auc:.3f} (expected {r.expected_roc_auc:.3f}), observed churn {r.observed_churn_rate:.2%} "
                  f"(predicted {r.predicted_churn_rate:.2%}), precision of the flagged {r.precision_flagged:.2%}")


@app.command()
def outcomes(
    data: DataOpt,
    runs: Annotated[Path, typer.Option("--runs", help="A scores file `score` writes nightly (its runs are read), or its run histories' folder.")],
    as_of: AsOfOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Uplift per action x cause x lifecycle stage (CSV); a JSON summary and a PNG go beside it.")],
    config: ConfigOpt = None,
) -> None:
    """Do the remedies work? For every run whose horizon and grace have passed by T: churn of the flagged customers
    the CRM treated (retention_actions) against the run's control group, per action x cause x stage."""
    import json

    from churnml import pipeline, tracking
    from churnml.monitoring.outcomes import HISTORY_COLUMNS
    from churnml.plots import outcomes_figure

    cfg = _config(config)
    t = as_timestamp(as_of)
    past = _kept_runs(runs)
    out_file = _guard_output(out_file, data=data)
    known = io.load_dataset(data).accepted.known_at(t)
    if known.retention_actions.empty:
        out.print(f"[yellow]No retention_actions row before {t.date()} in {data}: every flagged customer counts as untreated.[/yellow]")
    result = pipeline.outcomes(known.subscriptions, known.retention_actions,
                               [(r.run, r.customers([c for c in HISTORY_COLUMNS if c in r.columns()])) for r in past], t, cfg)
    io.write_csv(result.cells, out_file, protect=["action", "primary_cause", "lifecycle_stage"])
    treated = result.rows["group"].eq("treated")
    overall = result.overall
    summary = {
        "as_of": str(t.date()), "runs_matured": sorted(result.rows["run"].unique().tolist()),
        "window_days": cfg.monitoring.treatment_window_days,
        "customers": {g: int(n) for g, n in result.rows["group"].value_counts().sort_index().items()},
        "overall": overall, "matched": result.matched.to_dict(orient="records"),
        "by_action": result.by_action.to_dict(orient="records"), "runs": result.runs.to_dict(orient="records"),
        "intention_to_treat": {"overall": result.assigned_overall, "by_action": result.assigned.to_dict(orient="records")},
        # by recommendation: the intention-to-treat uplift over the share reached, the effect on those reached
        "on_the_reached": result.on_treated.to_dict(orient="records"),
        "qini": result.qini,
        # runs that carried an expected uplift (flagged by it, or shown beside risk: uplift.shadow): its ranking's Qini
        "uplift_ranking": result.uplift_ranking,
        "control_with_a_recorded_remedy": int(result.rows["control_recorded"].sum()),
    }
    io.atomic_write_text(out_file.with_suffix(".json"), json.dumps(summary, indent=2, default=float) + "\n")
    figure = out_file.with_suffix(".png")
    io.save_figures({figure.stem: outcomes_figure(result.by_action, result.matched)}, figure.parent)
    if cfg.tracking.enabled and treated.any():
        tracking.log_outcomes({"uplift": overall["uplift"], "customers_saved": overall["customers_saved"],
                               "qini": result.qini["qini"], "qini_oracle": result.qini["qini_oracle"],
                               **({"qini_uplift": result.uplift_ranking["qini_uplift"]} if result.uplift_ranking.get("customers") else {}),
                               **{f"uplift_{r['remedy']}": r["uplift"] for r in result.matched.to_dict(orient="records")}},
                              cfg.tracking, Path.cwd())
    out.print(f"Outcomes of {len(summary['runs_matured'])} matured run(s) at {t.date()}: {summary['customers']}; "
              f"uplift {overall['uplift']:+.3f} ({overall['uplift_low']:+.3f} to {overall['uplift_high']:+.3f}), "
              f"{overall['customers_saved']:.0f} customers saved: {out_file} (summary {out_file.with_suffix('.json')}, plot {figure})")
    ranking = result.uplift_ranking
    if ranking.get("customers"):
        out.print(f"Ranked by expected uplift, the {ranking['customers']:,} treated and control customers of runs that carried it give a "
                  f"Qini of {ranking['qini_uplift']:+.4f} against {ranking['qini_risk']:+.4f} ranked by risk (best possible "
                  f"{ranking['qini_oracle']:+.4f}): {'uplift' if ranking['qini_uplift'] > ranking['qini_risk'] else 'risk'} ranks better here.")
    if summary["control_with_a_recorded_remedy"]:
        err.print(f"[yellow]{summary['control_with_a_recorded_remedy']:,} control customers have a remedy recorded: the CRM "
                  "treated customers it was asked to hold out; they stay in the control group (the comparison is by assignment).[/yellow]")


@app.command()
def report(
    scores: Annotated[Path, typer.Option("--scores", help="Scores CSV written by churnml score (its manifest must sit beside it).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the HTML report (index.html).")],
    max_customers: Annotated[int, typer.Option("--max-customers", min=1, help="Flagged customers that get their own page.")] = 300,
    config: Annotated[Path | None, typer.Option("--config", help="YAML configuration; only its `signing` section is used here.")] = None,
    winback_file: Annotated[Path | None, typer.Option("--winback", help="Win-back CSV written by churnml winback: adds the Win-back section.")] = None,
) -> Path:
    """The analysts' HTML report: overview, drivers, segments, flagged customers, model card. Works offline."""
    from churnml.report import build_report_files

    key = _config_key(config)
    _guard_report_out(out_dir, [p for p in (scores, winback_file) if p is not None])
    with err.status("Building the report…"):
        files = build_report_files(scores, max_customers=max_customers, key=key, winback_path=winback_file)
    index = io.write_report(files, out_dir)
    out.print(f"Report: {index}")
    return index


# Newer typer releases carry their own copy of click: catch both families of command-line exceptions.
_EXIT = tuple({click.exceptions.Exit, typer.Exit})
_ABORT = tuple({click.exceptions.Abort, typer.Abort})
_USAGE = tuple({click.ClickException, getattr(typer, "TyperException", click.ClickException)})


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR}


def main() -> None:
    """Console entry point: errors become one line per problem on stderr and a documented exit code."""
    try:
        app(standalone_mode=False)
    except _EXIT as exc:
        sys.exit(getattr(exc, "exit_code", ExitCode.FAILURE))
    except _ABORT:
        err.print("churnml: aborted")
        sys.exit(ExitCode.FAILURE)
    except _USAGE as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except ChurnMLError as exc:
        problems = exc.problems if isinstance(exc, InputError) else [str(exc)]
        for problem in problems or [type(exc).__name__]:
            print(f"churnml: error: {' '.join(str(problem).split())}", file=sys.stderr)  # one line per problem
        sys.exit(exc.exit_code)
    except Exception as exc:  # the contract promises a one-line reason, never a bare traceback
        if os.environ.get("CHURNML_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            where = exc.filename or "an output"
            print(f"churnml: error: {where}: cannot be written ({exc.strerror}); free space or fix permissions, then "
                  "rerun (earlier outputs are untouched)", file=sys.stderr)
            sys.exit(ExitCode.CANNOT_WRITE)
        reason = str(exc).splitlines()[0] if str(exc) else ""
        print(f"churnml: error: unexpected {type(exc).__name__}: {reason} (set CHURNML_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(ExitCode.FAILURE)
