"""Snapshot-table importer: hand-computed dates, stable churn dates, rejects, config errors and the real Telco file."""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from churnml import io
from churnml.config import Family, parse_config
from churnml.errors import InputError
from churnml.importers import SnapshotImportSpec, import_snapshot
from churnml.schemas import check_canonical

TELCO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
T = date(2024, 3, 31)


def _frame(rows: list[tuple], columns=("id", "months", "left", "price", "plan", "region")) -> pd.DataFrame:
    """A frame as read_text_table gives it: every value text."""
    return pd.DataFrame(rows, columns=list(columns)).astype("str")


def _spec(**kw) -> SnapshotImportSpec:
    base = dict(id_column="id", tenure_column="months", churn_column="left", reference_date=T, price_column="price", plan_column="plan")
    return SnapshotImportSpec(**{**base, **kw})


def test_start_dates_are_calendar_months_before_t_with_month_end_clipping():
    tenures = {"a": ("0", "2024-03-31"), "b": ("1", "2024-02-29"), "c": ("12", "2023-03-31"), "d": ("13", "2023-02-28"),
               "e": ("25", "2022-02-28"), "f": ("6", "2023-09-30"), "g": ("7.0", "2023-08-31")}
    frame = _frame([(i, m, "No", "10", "basic", "n") for i, (m, _) in tenures.items()])
    subs = import_snapshot(frame, _spec()).dataset.subscriptions
    check_canonical(subs, "subscriptions")
    expected = pd.to_datetime([d for _, d in tenures.values()]).astype("datetime64[ns]")
    assert list(subs["customer_id"]) == list(tenures)
    assert (subs["start_date"].to_numpy() == expected.to_numpy()).all()
    assert subs["end_date"].isna().all()  # stayers remain active


def test_mid_month_reference_date():
    frame = _frame([("x", "1", "no", "5", "p", "n"), ("y", "14", "no", "5", "p", "n")])
    subs = import_snapshot(frame, _spec(reference_date=date(2024, 1, 15))).dataset.subscriptions
    assert list(subs["start_date"].dt.strftime("%Y-%m-%d")) == ["2023-12-15", "2022-11-15"]


def test_churn_end_dates_follow_the_documented_hash_of_the_id_bytes(id_hash):
    ids = ["7590-VHVEG", "00123", "123", "é-ü-42", "x" * 256, "a"]
    frame = _frame([(i, "3", "Yes", "10", "basic", "n") for i in ids])
    for window in (30, 7):
        subs = import_snapshot(frame, _spec(churn_window_days=window)).dataset.subscriptions
        expected = [pd.Timestamp(T + timedelta(days=1 + id_hash(i) % window)) for i in ids]
        assert list(subs["end_date"]) == expected


def test_end_dates_are_deterministic_and_independent_of_other_rows():
    rows = [(f"C{i:04d}", str(i % 40), "yes" if i % 3 else "no", "20", "basic", "n") for i in range(300)]
    frame = _frame(rows)
    one = import_snapshot(frame, _spec()).dataset.subscriptions
    again = import_snapshot(frame, _spec()).dataset.subscriptions
    pd.testing.assert_frame_equal(one, again)
    shuffled = import_snapshot(frame.sample(frac=0.5, random_state=1), _spec()).dataset.subscriptions
    merged = shuffled.merge(one, on="customer_id", suffixes=("", "_full"))
    assert len(merged) == 150 and (merged["end_date"].isna() == merged["end_date_full"].isna()).all()
    assert (merged["end_date"].dropna() == merged["end_date_full"].dropna()).all()
    churned = one[one["end_date"].notna()]
    assert len(churned) == 200
    days = (churned["end_date"] - pd.Timestamp(T)).dt.days
    assert days.between(1, 30).all() and days.nunique() >= 20  # spread over the window, not piled on one day


def test_churn_flag_spellings_and_labels_match_the_flag():
    flags = ["Yes", "NO", "true", "False", "1", "0", " yes ", "TRUE"]
    frame = _frame([(f"c{i}", "5", f, "10", "basic", "n") for i, f in enumerate(flags)])
    result = import_snapshot(frame, _spec())
    assert result.rejected == 0
    churned = result.dataset.subscriptions["end_date"].notna().tolist()
    assert churned == [True, False, True, False, True, False, True, True]
    # Every churner ends inside the default horizon, so its label at T is 1; stayers are still active.
    end = result.dataset.subscriptions["end_date"].dropna()
    assert ((end > pd.Timestamp(T)) & (end <= pd.Timestamp(T) + pd.Timedelta(days=60))).all()


def test_ids_keep_leading_zeros_and_round_trip_through_files(tmp_path):
    frame = _frame([("00123", "2", "no", "10.5", "basic", "n"), ("123", "0", "yes", "0", "plus", "s"), ("0007", "40", "no", "99", "basic", "")])
    result = import_snapshot(frame, _spec())
    assert list(result.dataset.subscriptions["customer_id"]) == ["00123", "123", "0007"]
    assert list(result.dataset.customers["customer_id"]) == ["00123", "123", "0007"]
    io.write_dataset(result.dataset, tmp_path, "csv")
    loaded = io.load_dataset(tmp_path)
    assert loaded.total_rejected == 0
    for name in ("subscriptions", "customers"):
        pd.testing.assert_frame_equal(loaded.dataset.table(name), result.dataset.table(name), obj=name)


def test_rejects_carry_line_reasons_and_raw_values():
    frame = _frame(
        [
            ("a", "3", "no", "10", "basic", "n"),  # line 2: fine
            ("", "3", "no", "10", "basic", "n"),  # 3: empty id
            ("b", "abc", "no", "10", "basic", "n"),  # 4: tenure not a number
            ("c", "-1", "maybe", "10", "basic", "n"),  # 5: negative tenure and unknown flag
            ("d", "2.5", "no", "", "basic", "n"),  # 6: fractional tenure, empty price
            ("e", "3", "yes", "x1", " ", "n"),  # 7: non-numeric price, empty plan
            ("a", "4", "no", "10", "basic", "n"),  # 8: duplicate of line 2
            ("f", "", "no", "-5", "basic", "n"),  # 9: empty tenure, negative price
            ("b", "1", "no", "10", "basic", "n"),  # 10: b's earlier row was rejected, so this one is kept
            ("g", "1500", "no", "10", "basic", "n"),  # 11: would start before 1900
        ]
    )
    result = import_snapshot(frame, _spec())
    assert (result.read, result.accepted, result.rejected) == (10, 2, 8)
    assert list(result.dataset.subscriptions["customer_id"]) == ["a", "b"]
    rej = result.rejects.set_index("line")
    assert list(result.rejects.columns[:2]) == ["line", "reason"] and list(rej.index) == [3, 4, 5, 6, 7, 8, 9, 11]
    reasons = rej["reason"]
    assert "id is empty" in reasons[3]
    assert "months 'abc' is not a whole number of months" in reasons[4]
    assert "months '-1' is negative" in reasons[5] and "left 'maybe' is not a churn flag" in reasons[5]
    assert "months '2.5' is not a whole number" in reasons[6] and "price is empty" in reasons[6]
    assert "price 'x1' is not a monthly price" in reasons[7] and "plan is empty" in reasons[7]
    assert reasons[8] == "id 'a' appears again (first on line 2); one row per customer"
    assert "months is empty" in reasons[9] and "price '-5' is negative" in reasons[9]
    assert "starts before 1900" in reasons[11]
    assert rej.loc[5, "left"] == "maybe" and rej.loc[7, "price"] == "x1"  # raw values as in the file


def test_custom_lines_are_reported():
    frame = _frame([("a", "x", "no", "1", "p", "n"), ("b", "1", "no", "1", "p", "n")])
    result = import_snapshot(frame, _spec(), lines=np.array([10, 20]))
    assert list(result.rejects["line"]) == [10]
    with pytest.raises(ValueError, match="lines"):
        import_snapshot(frame, _spec(), lines=np.array([1]))


def test_attribute_selection_and_types(tmp_path):
    frame = _frame(
        [("a", "1", "no", "10", "basic", "n", " ", "x"), ("b", "2", "yes", "20", "plus", "s", "12.5", "3")],
        columns=("id", "months", "left", "price", "plan", "region", "total", "mixed"),
    )
    default = import_snapshot(frame, _spec())
    customers = default.dataset.customers
    assert default.attributes == ("region", "total", "mixed")  # price and plan are not attributes by default
    assert list(customers.columns) == ["customer_id", "region", "total", "mixed"]
    assert customers["total"].dtype == "float64" and np.isnan(customers["total"][0]) and customers["total"][1] == 12.5
    assert pd.api.types.is_string_dtype(customers["mixed"].dtype) and list(customers["mixed"]) == ["x", "3"]

    listed = import_snapshot(frame, _spec(attribute_columns=["price", "plan"]))
    assert list(listed.dataset.customers.columns) == ["customer_id", "price", "plan"]
    assert list(listed.dataset.customers["price"]) == [10.0, 20.0]

    excluded = import_snapshot(frame, _spec(exclude_columns=["mixed"], price_column=None, plan_column=None))
    assert excluded.attributes == ("price", "plan", "region", "total")
    subs = excluded.dataset.subscriptions
    assert list(subs["plan"]) == ["default", "default"] and list(subs["monthly_price"]) == [0.0, 0.0]


def test_whole_number_attributes_are_written_as_the_export_wrote_them(tmp_path):
    """0/1 flags and counts are written as 0 and 1, not 0.0 (whole numbers lose their decimals); others keep theirs."""
    frame = _frame(
        [("a", "1", "no", "10", "basic", "n", "0", "3", "1.5", ""), ("b", "2", "yes", "20", "plus", "s", "1", "", "2.0", "7")],
        columns=("id", "months", "left", "price", "plan", "region", "senior", "calls", "score", "gaps"),
    )
    result = import_snapshot(frame, _spec())
    io.write_dataset(result.dataset, tmp_path, "csv")
    text = (tmp_path / "customers.csv").read_text().splitlines()
    assert text == ["customer_id,region,senior,calls,score,gaps", "a,n,0,3,1.5,", "b,s,1,,2.0,7"]
    loaded = io.load_dataset(tmp_path).dataset.customers
    pd.testing.assert_frame_equal(loaded, result.dataset.customers)


def test_missing_and_conflicting_columns_raise_one_line_per_problem():
    frame = _frame([("a", "1", "no", "10", "basic", "n")])
    with pytest.raises(InputError) as err:
        import_snapshot(
            frame,
            _spec(churn_column="Churn", price_column="months", attribute_columns=["id", "nope"], attribute_families={"regoin": Family.PRICE}),
        )
    problems = err.value.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith("churn_column: column 'Churn' is not in the file; set churn_column to one of: id, months")
    assert any(p.startswith("price_column: column 'months' is already the tenure_column") for p in problems)
    assert any("attribute_columns: column 'id' is the id_column, never an attribute" in p for p in problems)
    assert any(p.startswith("attribute_columns: column 'nope' is not in the file") for p in problems)
    assert problems[-1] == "attribute_families: column 'regoin' is not in the file; remove it or fix the spelling"
    with pytest.raises(InputError, match="exclude_columns: column 'x' is not in the file"):
        import_snapshot(frame, _spec(exclude_columns=["x"]))


def test_spec_is_strict():
    with pytest.raises(pydantic.ValidationError):
        _spec(id_col="id")  # unknown key
    with pytest.raises(pydantic.ValidationError):
        _spec(churn_window_days=0)
    with pytest.raises(pydantic.ValidationError, match="between 1900 and 2200"):
        _spec(reference_date=date(1850, 1, 1))


def test_suggested_config_is_a_valid_config():
    frame = _frame([("a", "1", "no", "10", "basic", "n")])
    result = import_snapshot(frame, _spec(attribute_families={"region": Family.SERVICE, "plan": Family.PRICE}, churn_window_days=90))
    config = parse_config(result.suggested_config)
    # `plan` is not an attribute here, so its family is not suggested; a 90-day window needs H >= 90.
    assert config.static_attribute_families == {"region": Family.SERVICE}
    assert config.labels.horizon_days == 90
    assert import_snapshot(frame, _spec()).suggested_config["labels"] == {"horizon_days": 60}


def test_empty_frame_gives_empty_canonical_tables():
    result = import_snapshot(_frame([]), _spec())
    assert (result.read, result.accepted, result.rejected) == (0, 0, 0)
    check_canonical(result.dataset.subscriptions, "subscriptions")


def test_real_telco_file_imports_and_loads_back(tmp_path):
    if not TELCO.is_file():
        pytest.skip(f"real Telco file not found at {TELCO}: the ../shared data folder is absent beside this checkout")
    frame = io.read_text_table(TELCO).frame
    spec = SnapshotImportSpec.telco(T)
    result = import_snapshot(frame, spec)
    assert (result.read, result.accepted, result.rejected) == (7043, 7043, 0) and result.rejects.empty

    subs = result.dataset.subscriptions
    assert subs["customer_id"].is_unique and len(subs) == 7043
    churned = subs[subs["end_date"].notna()]
    days = (churned["end_date"] - pd.Timestamp(T)).dt.days
    assert len(churned) == 1869 and days.between(1, 30).all()
    assert set(churned["customer_id"]) == set(frame.loc[frame["Churn"] == "Yes", "customerID"])
    new = frame["tenure"].to_numpy() == "0"
    assert new.sum() == 11 and (subs.loc[new, "start_date"] == pd.Timestamp(T)).all()  # active at T
    assert set(subs["plan"]) == {"DSL", "Fiber optic", "No"}

    attributes = [c for c in frame.columns if c not in ("customerID", "tenure", "Churn", "MonthlyCharges", "InternetService")]
    assert list(result.attributes) == attributes and len(attributes) == 16
    assert set(result.suggested_config["static_attribute_families"]) == set(attributes)
    parse_config(result.suggested_config)

    io.write_dataset(result.dataset, tmp_path, "csv")
    loaded = io.load_dataset(tmp_path)
    assert all(report.rejected == 0 for report in loaded.reports.values())
    customers = loaded.dataset.customers
    assert list(customers.columns) == ["customer_id", *attributes]
    numeric = {"SeniorCitizen", "TotalCharges"}
    for col in attributes:
        if col in numeric:
            assert customers[col].dtype == "float64", col
        else:
            assert pd.api.types.is_string_dtype(customers[col].dtype), col
    assert customers["TotalCharges"].isna().sum() == 11  # blank for tenure 0: missing, not rejected
    for name in ("subscriptions", "customers"):
        pd.testing.assert_frame_equal(loaded.dataset.table(name), result.dataset.table(name), obj=name)

    # Every attribute becomes a model feature, with the family the preset suggests.
    from churnml.features import build_features, feature_registry

    cfg = parse_config(result.suggested_config)
    features = build_features(loaded.dataset, T, cfg)
    registry = feature_registry(cfg, dict(customers.drop(columns="customer_id").dtypes))
    assert len(features) == 7043  # everyone is active at the reference date
    for col in attributes:
        name = col if col in features.columns else f"customer_{col}"
        assert name in features.columns, col
        assert registry[name].family.value == result.suggested_config["static_attribute_families"][col]
    assert isinstance(features["Contract"].dtype, pd.CategoricalDtype) and features["TotalCharges"].dtype == "float64"


@pytest.mark.slow
def test_real_telco_scores_with_causes_against_the_presets_healthy_levels():
    """End to end on the real export: a model, the scores, and price/service attributes healed to healthy levels."""
    if not TELCO.is_file():
        pytest.skip(f"real Telco file not found at {TELCO}: the ../shared data folder is absent beside this checkout")
    from churnml.features import feature_registry
    from churnml.labels import training_snapshots
    from churnml.modeling.train import train_model
    from churnml.pipeline import score as score_dataset

    result = import_snapshot(io.read_text_table(TELCO).frame, SnapshotImportSpec.telco(T))
    cfg = parse_config({**result.suggested_config, "tracking": {"enabled": False}, "model": {"num_threads": 2}})
    as_of = pd.Timestamp(T) + pd.Timedelta(days=90)
    known = result.dataset.known_at(as_of)
    registry = feature_registry(cfg, dict(known.customers.drop(columns="customer_id").dtypes))
    bundle = train_model(training_snapshots(known, as_of, cfg), cfg, {n: s.family for n, s in registry.items()},
                         as_of=as_of).bundle
    bundle.meta["version"] = "telco"
    scores = score_dataset(result.dataset, T, bundle, cfg).scores
    flagged = scores[scores["flagged"]]
    assert len(flagged) == 705 and set(flagged["primary_cause"]) <= {"price", "service", "other"}
    reasons = set(flagged[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel())
    healthy = {"Contract is Two year", "Contract is One year", "TechSupport is Yes", "TechSupport is No internet service",
               "PaymentMethod is Credit card (automatic)", "PaymentMethod is Bank transfer (automatic)"}
    assert not reasons & healthy, reasons & healthy
    assert "Contract is Month-to-month" in reasons


@pytest.mark.parametrize(
    ("column", "values", "family"),
    [
        ("Customer service calls", None, Family.SERVICE),
        ("support_tickets_90d", None, Family.SERVICE),
        ("NumComplaints", None, Family.SERVICE),
        ("Total day charge", None, Family.PRICE),
        ("Monthly fee/€", None, Family.PRICE),
        ("BillingCycle", None, Family.PRICE),
        ("PaymentMethod", None, Family.PRICE),
        ("customer service charge", None, Family.SERVICE),  # care words win: a discount does not fix care
        ("Method", ["Bank transfer", "Electronic payment"], Family.PRICE),  # the levels speak when the name does not
        ("Account length", None, Family.OTHER),
        ("State", ["KS", "OH"], Family.OTHER),
        ("Servicer", None, Family.OTHER),  # whole words only
    ],
)
def test_family_suggestions_from_names_and_levels(column, values, family):
    from churnml.importers import suggest_family

    suggested, word = suggest_family(column, None if values is None else pd.Series(values))
    assert suggested is family
    assert bool(word) == (family is not Family.OTHER)


def test_suggestions_fill_what_the_spec_leaves_and_never_override_it():
    frame = _frame([("a", "1", "no", "10", "basic", "n", "3")], columns=("id", "months", "left", "price", "plan", "Support calls", "Total charge"))
    result = import_snapshot(frame, _spec(attribute_families={"Total charge": Family.OTHER}))
    assert result.suggested_config["static_attribute_families"] == {"Support calls": "service", "Total charge": "other"}
    assert result.family_suggestions == {"Support calls": ("service", "calls")}


@pytest.mark.slow
def test_a_crm_export_with_awkward_headers_trains_and_scores_end_to_end(tmp_path):
    """Headers with spaces, punctuation, non-ASCII letters and names that clean alike: import, train, score, explain."""
    import subprocess
    import sys

    rng = np.random.default_rng(3)
    n = 1500
    calls = rng.poisson(1.5, n)
    charge = rng.normal(30, 9, n).clip(1).round(2)
    churn = rng.random(n) < 1 / (1 + np.exp(-(-3.2 + 0.7 * calls + 0.04 * (charge - 30))))
    export = pd.DataFrame({
        "Phone": [f"{382 + i % 600}-{4657 + i:04d}" for i in range(n)],
        "État": rng.choice(["KS", "Île-de-France"], n),
        "Account length": rng.integers(1, 200, n),
        "Total day charge": charge,
        "Total day charge (USD)": (charge * 1.1).round(2),
        "total_day_charge": (charge * 0.9).round(2),
        "Customer service calls": calls,
        "{Plan}: Int'l": rng.choice(["yes", "no"], n),
        "Monthly fee/€": (charge + 10).round(2),
        "Churn": np.where(churn, "True", "False"),
    })
    export.to_csv(tmp_path / "export.csv", index=False)
    churnml = str(Path(sys.executable).parent / "churnml")

    def run(*args):
        proc = subprocess.run([churnml, *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    shown = run("import-snapshot", "--input", "export.csv", "--out", "data", "--reference-date", "2024-06-30",
                "--id-column", "Phone", "--tenure-column", "Account length", "--churn-column", "Churn", "--price-column", "Monthly fee/€")
    assert "Customer service calls" in shown and "service" in shown
    suggested = (tmp_path / "data" / "suggested_config.yaml").read_text(encoding="utf-8")
    (tmp_path / "run.yaml").write_text(suggested + "tracking:\n  enabled: false\nmodel:\n  num_threads: 2\n", encoding="utf-8")
    config = parse_config(__import__("yaml").safe_load((tmp_path / "run.yaml").read_text(encoding="utf-8")))
    assert config.static_attribute_families["Customer service calls"] is Family.SERVICE
    run("train", "--data", "data", "--as-of", "2024-09-30", "--config", "run.yaml", "--model-dir", "models")
    run("score", "--data", "data", "--as-of", "2024-06-30", "--config", "run.yaml", "--model", "models/latest", "--out", "scores.csv")
    scores = pd.read_csv(tmp_path / "scores.csv", dtype=str, keep_default_na=False)
    flagged = scores[scores["flagged"] == "true"]
    assert len(scores) == n and len(flagged) == n // 10
    # The planted driver is the service calls: it leads the causes and is cited by its own header.
    assert (flagged["primary_cause"] == "service").mean() > 0.5
    assert flagged["reason_1"].str.startswith("Customer service calls is ").mean() > 0.5
    explained = run("explain", "--data", "data", "--as-of", "2024-06-30", "--config", "run.yaml", "--model", "models/latest",
                    "--customer", flagged["customer_id"].iloc[0])
    assert "Customer service calls" in explained
