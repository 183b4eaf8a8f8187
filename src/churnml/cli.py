"""The ``churnml`` command: one entry point, one verb per pipeline stage (contract section 3)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.table import Table

from churnml import io
from churnml.config import ChurnConfig, load_config
from churnml.errors import ChurnMLError, ExitCode, RejectedRowsError
from churnml.validation import ValidationResult

app = typer.Typer(
    name="churnml",
    help="Nightly churn risk, cause (price or service) and remedy for every active customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DataOpt = Annotated[Path, typer.Option("--data", help="Dataset directory (NAME.csv or NAME.parquet per table).")]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="As-of date T (YYYY-MM-DD): only what is dated before T counts.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML configuration (default: built-in defaults = configs/default.yaml).")]


def _config(path: Path | None) -> ChurnConfig:
    return load_config(path)


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
    customers: Annotated[int, typer.Option("--customers", min=1, help="Number of distinct customers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same dataset.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First simulated day (YYYY-MM-DD).")] = "2024-01-01",
    months: Annotated[int, typer.Option("--months", min=3, help="Months simulated.")] = 24,
    fmt: Annotated[str, typer.Option("--format", help="Table format: csv or parquet.")] = "csv",
) -> None:
    """Write a synthetic dataset with planted churn causes, a ground-truth file and oracle probabilities."""
    from churnml.synth import generate as simulate

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet", param_hint="--format")
    started = time.perf_counter()
    with err.status(f"Simulating {customers:,} customers over {months} months…"):
        data = simulate(customers, seed=seed, start=start, months=months)
    from churnml.dataset import Dataset

    with err.status(f"Writing tables to {out_dir}…"):
        io.write_dataset(Dataset.from_frames(data.tables), out_dir, fmt)
        io.write_table(data.truth, out_dir, "truth", "csv")
        io.write_table(data.oracle, out_dir, "oracle", "parquet")
    out.print(
        f"Wrote {customers:,} customers, {len(data.truth):,} churns ({data.start.date()} to {data.end.date()}) "
        f"to {out_dir} in {time.perf_counter() - started:.1f} s. Suggested as-of: {data.end.date()}"
    )


@app.command()
def validate(
    data: DataOpt,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Reject rows dated after this date.")] = None,
    rejects: Annotated[Optional[Path], typer.Option("--rejects", help="Where rejected rows go (default DATA/rejects).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 5) if any row is rejected.")] = False,
) -> None:
    """Check every table; rejected rows go to REJECTS/<table>.csv with their line and reason."""
    started = time.perf_counter()
    with err.status(f"Validating {data}…"):
        result = io.load_dataset(data, as_of=as_of)
    rejects_dir = rejects or data / "rejects"
    written = io.write_rejects(result, rejects_dir)
    print_validation(result)
    if written:
        out.print(f"{result.total_rejected:,} rejected rows, with reasons, in: {', '.join(str(p) for p in written)}")
    else:
        out.print(f"No rejected rows ({time.perf_counter() - started:.1f} s).")
    if strict and result.total_rejected:
        raise RejectedRowsError(f"{result.total_rejected:,} rows rejected in --strict mode; see {rejects_dir}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes its data and outputs.")] = Path("data/demo"),
    customers: Annotated[int, typer.Option("--customers", min=100)] = 5000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Run every stage on a generated dataset, with no arguments."""
    data_dir = workdir / "input"
    generate(out_dir=data_dir, customers=customers, seed=seed, start="2024-01-01", months=24, fmt="csv")
    validate(data=data_dir, as_of=None, rejects=workdir / "rejects", strict=True)


def main() -> None:
    """Console entry point: errors become one line per problem on stderr and a documented exit code."""
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("churnml: aborted")
        sys.exit(ExitCode.FAILURE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except ChurnMLError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"churnml: error: {line}", file=sys.stderr)
        sys.exit(exc.exit_code)
