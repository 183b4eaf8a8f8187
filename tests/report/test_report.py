"""The analysts' report without a browser: sections, escaping, safe names, offline, pages, determinism."""

from __future__ import annotations

import dataclasses
import html
import io
import posixpath
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from markupsafe import escape
from report_run import HOSTILE_IDS, MAX_PAGES

from churnml.report import SECTIONS, customer_page_path, customer_slug, read_report_inputs, render_report
from churnml.report.names import customer_chart_path

SAFE_PATH = re.compile(r"^(index\.html|flagged\.csv|customers/[A-Za-z0-9_-]+\.html|assets/[A-Za-z0-9_-]+\.png)$")


class _Collector(HTMLParser):
    """Every tag with its attributes, and the text of every h2."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_h2 = tag == "h2"
        if self._in_h2:
            self.h2.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def parse(content: bytes) -> _Collector:
    p = _Collector()
    p.feed(content.decode("utf-8"))
    return p


def html_files(files: dict[str, bytes]) -> dict[str, str]:
    return {k: v.decode("utf-8") for k, v in files.items() if k.endswith(".html")}


def test_every_section_is_present_with_pictures(small_run):
    index = small_run.files["index.html"]
    doc = parse(index)
    ids = {a.get("id") for _, a in doc.tags}
    for sid, title in SECTIONS:
        assert sid in ids, f"section {sid} missing"
        assert title in doc.h2
    text = index.decode("utf-8")
    for sid, _ in SECTIONS:
        block = text.split(f'id="{sid}"', 1)[1].split('<section class="block"', 1)[0]
        assert "<img " in block, f"section {sid} has no picture"
    for needle in (
        "Leavers against stayers",
        "What the leavers share",
        "What keeps customers",
        "Drivers by cause family",
        "Out-of-time validation",
        "Referral candidates",
    ):
        assert needle in text
    assert "assets/model-reliability.png" in text  # the model card shows the bundle's reliability plot
    calibration = text.split("<dt>Calibration</dt><dd>", 1)[1].split("</dd>", 1)[0]
    assert "tuning predictions" in calibration


def test_hostile_ids_are_escaped_everywhere(small_run):
    pages = html_files(small_run.files)
    for name, text in pages.items():
        # Our own inline script is the only script: none comes from the data.
        assert text.count("<script") == (1 if name == "index.html" else 0), name
        assert "<img src=x" not in text and "alert(1)</script>" not in text, name
    index = pages["index.html"]
    for cid in HOSTILE_IDS:
        assert str(escape(cid)) in index, f"{cid!r} not shown (escaped) in the table"
        page = pages[customer_page_path(cid)]
        assert f'<span id="customer-id">{escape(cid)}</span>' in page


def test_file_names_are_safe_and_unique(small_run):
    for path in small_run.files:
        assert SAFE_PATH.match(path), path
        assert ".." not in path and not path.startswith("/")
    pages = [customer_page_path(cid) for cid in HOSTILE_IDS]
    assert len(set(pages)) == len(pages)
    assert len({p.lower() for p in pages}) == len(pages)  # AB and ab differ on a case-insensitive disk too


@pytest.mark.parametrize(
    "cid",
    [
        "../x",
        "..",
        ".",
        "",
        "/",
        "a/b",
        "a\\b",
        "CON",
        "con",
        "NUL",
        "<script>alert(1)</script>",
        "ид",
        "x" * 500,
        "\x00",
        " a ",
        "a b",
        "C:\\x",
    ],
)
def test_slug_is_a_plain_file_stem(cid):
    stem = customer_slug(cid)
    assert re.fullmatch(r"[A-Za-z0-9_-]+-[0-9a-f]{10}", stem), stem
    assert len(stem) <= 52
    assert stem.split("-")[0].upper() not in {"CON", "NUL", "PRN", "AUX"} or len(stem) > 4
    assert customer_page_path(cid) == f"customers/{stem}.html"
    assert customer_chart_path(cid) == f"assets/waterfall-{stem}.png"


def test_slug_collisions_are_broken_by_the_hash():
    ids = ["a/b", "a-b", "a b", "a?b", "AB", "ab", "ab ", "x" * 60 + "1", "x" * 60 + "2"]
    stems = [customer_slug(i) for i in ids]
    assert len(set(stems)) == len(ids)
    assert customer_slug("a/b") == customer_slug("a/b")  # stable across runs


def test_nothing_is_loaded_from_outside(small_run):
    external = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", re.IGNORECASE)
    for name, text in html_files(small_run.files).items():
        assert "http://" not in text and "https://" not in text, name
        for match in external.finditer(text):
            assert match.group(0).lower().rstrip("\"' ").endswith("data:"), f"{name}: {match.group(0)}"
        assert "@import" not in text and "url(" not in text and "<link" not in text, name
        assert not re.search(r"<script[^>]*\bsrc=", text), name


def test_every_reference_resolves_inside_the_report(small_run):
    files = small_run.files
    for name, content in files.items():
        if not name.endswith(".html"):
            continue
        base = posixpath.dirname(name)
        for tag, attrs in parse(content).tags:
            ref = attrs.get("src") if tag == "img" else attrs.get("href") if tag == "a" else None
            if not ref or ref.startswith("#"):
                continue
            target = posixpath.normpath(posixpath.join(base, ref.split("#")[0]))
            assert target in files, f"{name} refers to {ref}, which is not in the report"


def test_table_rows_and_pages_match(small_run):
    inputs, files = small_run.inputs, small_run.files
    flagged = inputs.population["flagged"]
    expected = min(MAX_PAGES, flagged)
    doc = parse(files["index.html"])
    links = [a["href"] for t, a in doc.tags if t == "a" and "customer-link" in a.get("class", "")]
    rows = [a for t, a in doc.tags if t == "tr" and "data-rank" in a]
    pages = {p for p in files if p.startswith("customers/")}
    # every flagged customer is in the table; the highest-risk ones link to their page
    assert len(rows) == flagged == len(inputs.flagged_table) > MAX_PAGES
    assert len(links) == len(pages) == expected == inputs.pages
    assert set(links) == pages == {customer_page_path(c) for c in inputs.flagged_table["customer_id"].head(MAX_PAGES)}
    ranks = [int(r["data-rank"]) for r in rows]
    assert ranks == sorted(ranks) and ranks[0] == 1  # the highest-risk flagged customers, in rank order
    # explanations are computed for the page customers only (bounded work)
    assert set(inputs.explanations.summary.index) == set(inputs.flagged_table["customer_id"].head(MAX_PAGES))


def test_the_csv_download_holds_every_flagged_customer_safely(small_run):
    files, inputs = small_run.files, small_run.inputs
    assert 'href="flagged.csv"' in files["index.html"].decode("utf-8")
    table = pd.read_csv(io.BytesIO(files["flagged.csv"]), dtype={"customer_id": str}, keep_default_na=False)
    scores = pd.read_csv(small_run.scores_path, dtype={"customer_id": str}, keep_default_na=False)
    flagged = scores[scores["flagged"].astype(str).str.lower() == "true"]
    assert len(table) == len(flagged) == inputs.population["flagged"]
    assert list(table["risk_rank"]) == sorted(flagged["risk_rank"])
    # The scores file is formula-safe already; the download is too (no cell a spreadsheet would run).
    for column in table.columns:
        if table[column].dtype == object:
            assert not table[column].str.match(r"^[=+\-@\t\r]").any(), column
    assert set(table["customer_id"]) == set(flagged["customer_id"])


def test_monitoring_reads_the_runs_the_job_kept(small_run):
    inputs, text = small_run.inputs, small_run.files["index.html"].decode("utf-8")
    m = inputs.monitoring
    assert list(m.runs["as_of"]) == sorted(m.runs["as_of"]) and len(m.runs) == 2 and m.runs["as_of"].iloc[-1] == inputs.as_of
    assert m.runs["flagged"].iloc[-1] == inputs.population["flagged"]
    assert m.summary["previous_as_of"] == m.runs["as_of"].iloc[0]
    assert len(m.drift) > 0 and "monitoring_drift.png" in text and "monitoring_trends.png" in text
    scores = pd.read_csv(small_run.scores_path, dtype={"customer_id": str}, keep_default_na=False)
    before = small_run.previous_flags
    now = scores["flagged"].astype(str).str.lower() == "true"
    newly = now & ~scores["customer_id"].map(before).fillna(False).astype(bool)
    assert m.newly_total == int(newly.sum()) == m.summary["transitions"]["newly_flagged"]
    assert list(m.newly["customer_id"]) == list(scores.loc[newly].sort_values("risk_rank")["customer_id"].head(len(m.newly)))
    # nothing matured yet: tonight and a month ago are both inside the horizon of the data's last day
    assert not m.backtest["matured"].any() and "No kept run has matured yet" in text


def test_explanations_come_from_the_stored_vectors(small_run):
    """The report explains what the run scored: its stored vectors give the probabilities in the scores file."""
    summary = small_run.inputs.explanations.summary
    scores = pd.read_csv(small_run.scores_path, dtype={"customer_id": str}).set_index("customer_id")
    p = scores.loc[summary.index, "churn_probability"].to_numpy()
    assert abs(summary["churn_probability"].to_numpy() - p).max() < 1e-4  # the scores file keeps 4 decimals
    assert not any("rebuilt" in n for n in small_run.inputs.notes)


def test_customer_page_explains_the_risk(small_run):
    row = small_run.inputs.flagged_table.iloc[1]
    assert row["customer_id"] == "<script>alert(1)</script>"
    page = small_run.files[customer_page_path(row["customer_id"])].decode("utf-8")
    assert f'<b id="probability">{row["churn_probability"]:.1%}</b>' in page
    assert 'id="cause"' in page and {"price": "Price", "service": "Service", "other": "Other"}[row["primary_cause"]] in page
    for reason in (row["reason_1"], row["reason_2"], row["reason_3"]):
        if reason:
            assert html.escape(reason, quote=True) in page
    assert 'id="action-name"' in page and 'id="action-why"' in page
    assert f'src="../{customer_chart_path(row["customer_id"])}"' in page
    assert "What raises the risk" in page and "What lowers the risk" in page


@pytest.mark.slow
def test_same_inputs_give_the_same_report(small_run):
    again = render_report(small_run.inputs, small_run.evaluation)
    assert again.keys() == small_run.files.keys()
    assert all(again[k] == small_run.files[k] for k in again)
    # and gathering again from the same files gives the same pages
    inputs, evaluation = read_report_inputs(small_run.scores_path, max_customer_pages=MAX_PAGES, profile_sample=1500)
    fresh = render_report(inputs, evaluation)
    assert fresh["index.html"] == small_run.files["index.html"]
    page = customer_page_path(HOSTILE_IDS[0])
    assert fresh[page] == small_run.files[page]


def test_a_report_with_no_flagged_customer_still_renders(small_run):
    inputs = small_run.inputs
    empty = dataclasses.replace(
        inputs,
        flagged_table=inputs.flagged_table.iloc[:0],
        flagged_mix=inputs.flagged_mix.iloc[:0],
        population={**inputs.population, "flagged": 0, "pages": 0},
    )
    files = render_report(empty, {})
    assert not [p for p in files if p.startswith("customers/")]
    text = files["index.html"].decode("utf-8")
    assert "No customer is flagged" in text and "reliability plot is not in the model bundle" in text


def test_report_inputs_stay_bounded(small_run):
    inputs = small_run.inputs
    assert len(inputs.risk_histogram) == 40
    # the profile is the one train kept in the bundle, not rebuilt from the data
    stored = small_run.bundle_meta["profile"]["info"]
    assert inputs.profile_info["rows"] == stored["rows"] > 0 and 0 < inputs.profile_info["leavers"] < inputs.profile_info["rows"]
    assert set(inputs.segments["dimension"]) == {"lifecycle_stage", "plan"}
    assert inputs.flagged_mix["customers"].sum() == inputs.population["flagged"]


def test_control_customers_are_marked_do_not_treat(small_run):
    scores = pd.read_csv(small_run.scores_path, dtype={"customer_id": str}, keep_default_na=False)
    held = scores[scores["control_group"].astype(str).str.lower() == "true"]
    text = small_run.files["index.html"].decode("utf-8")
    assert len(held) > 0 and text.count('title="control group: measure, do not treat"') == len(held)
    for cid in held["customer_id"].head(small_run.inputs.pages):
        if (page := small_run.files.get(customer_page_path(cid))) is not None:
            assert b'id="control"' in page
