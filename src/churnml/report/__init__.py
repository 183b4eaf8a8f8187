"""The analysts' report: a self-contained static HTML site built from a scoring run.

- :func:`gather_report_inputs` computes everything the report shows (bounded work for any population);
- :func:`render_report` turns it into files (``{relative path: bytes}``) with no I/O of its own;
- :func:`read_report_inputs` reads a scores file's manifest, dataset and model bundle and gathers them;
- :func:`build_report_files` does both for a scores file: what ``churnml report`` writes.
"""

from churnml.report.gather import ReportInputs, gather_report_inputs
from churnml.report.load import build_report_files, evaluation_pngs, read_report_inputs
from churnml.report.names import customer_chart_path, customer_page_path, customer_slug
from churnml.report.render import SECTIONS, render_report
from churnml.report.waterfall import waterfall_png

__all__ = [
    "SECTIONS",
    "ReportInputs",
    "build_report_files",
    "customer_chart_path",
    "customer_page_path",
    "customer_slug",
    "evaluation_pngs",
    "gather_report_inputs",
    "read_report_inputs",
    "render_report",
    "waterfall_png",
]
