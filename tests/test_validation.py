"""Each contract rule has a fixture that breaks it; rejects keep line, reason and raw values."""

from pathlib import Path

import pandas as pd
import pytest

from churnml.errors import InputError
from churnml.io import load_dataset

SUBS = "customer_id,start_date,end_date,plan,monthly_price\n00123,2025-01-01,,basic,20\n"


def _write(directory: Path, **tables: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tables.setdefault("subscriptions", SUBS)
    for name, text in tables.items():
        (directory / f"{name}.csv").write_text(text)
    return directory


def _rejects(tmp_path, table, text, **kw):
    result = load_dataset(_write(tmp_path / "d", **{table: text}), **kw)
    rep = result.reports[table]
    assert rep.accepted + rep.rejected == rep.read
    return result, result.rejects[table]


def _only_reason(tmp_path, table, text, **kw):
    _, rej = _rejects(tmp_path, table, text, **kw)
    assert len(rej) == 1, rej
    return rej.iloc[0]


def test_clean_table_has_no_rejects(tmp_path):
    result, rej = _rejects(tmp_path, "support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved\n00123,2025-02-01,phone,4.5,yes\n")
    assert rej.empty and result.reports["support_contacts"].accepted == 1


def test_missing_required_table_is_fatal(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "surveys.csv").write_text("customer_id,timestamp,score\n1,2025-01-01,5\n")
    with pytest.raises(InputError, match="subscriptions: required table is missing"):
        load_dataset(tmp_path / "d")


def test_missing_required_column_names_table_and_column(tmp_path):
    d = _write(tmp_path / "d", support_contacts="customer_id,timestamp,channel,resolved\n00123,2025-02-01,phone,yes\n")
    with pytest.raises(InputError) as info:
        load_dataset(d)
    assert "support_contacts.csv: required column 'wait_minutes' is missing" in str(info.value)
    assert "table support_contacts" in str(info.value)


def test_table_in_two_formats_is_fatal(tmp_path):
    d = _write(tmp_path / "d")
    pd.DataFrame({"customer_id": ["1"]}).to_parquet(d / "subscriptions.parquet")
    with pytest.raises(InputError, match="both subscriptions.csv and subscriptions.parquet"):
        load_dataset(d)


def test_empty_file_is_fatal(tmp_path):
    d = _write(tmp_path / "d", surveys="")
    with pytest.raises(InputError, match="surveys.csv: the file is empty"):
        load_dataset(d)


def test_unparseable_date(tmp_path):
    row = _only_reason(tmp_path, "subscriptions", SUBS + "00124,2025-02-30,,basic,20\n")
    assert row["line"] == 3 and "start_date '2025-02-30' is not an ISO-8601 date" in row["reason"]


def test_date_with_time_of_day(tmp_path):
    row = _only_reason(tmp_path, "subscriptions", SUBS + "00124,2025-02-03T10:00,,basic,20\n")
    assert "has a time of day" in row["reason"]


def test_usage_month_must_be_first_day(tmp_path):
    row = _only_reason(tmp_path, "usage", "customer_id,month,used,allowance\n00123,2025-02-01,3,10\n00123,2025-03-15,3,10\n")
    assert row["line"] == 3 and "not the first day of a month" in row["reason"]


def test_allowance_must_be_positive_and_empty_means_unlimited(tmp_path):
    result, rej = _rejects(tmp_path, "usage", "customer_id,month,used,allowance\n00123,2025-02-01,3,\n00123,2025-03-01,3,0\n")
    assert list(rej["line"]) == [3] and "allowance '0' must be > 0" in rej["reason"][0]
    assert result.dataset.usage["allowance"].isna().all()


def test_timestamps_with_offsets_become_utc(tmp_path):
    text = "customer_id,timestamp,score\n00123,2025-03-01T10:00:00+02:00,7\n00123,2025-03-01T10:00:00Z,8\n00123,2025-03-01,9\n"
    result, rej = _rejects(tmp_path, "surveys", text)
    assert rej.empty
    got = list(result.dataset.surveys["timestamp"])
    assert got == [pd.Timestamp("2025-03-01 08:00"), pd.Timestamp("2025-03-01 10:00"), pd.Timestamp("2025-03-01")]
    assert str(result.dataset.surveys["timestamp"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(
    "table,header,row,expected",
    [
        ("support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved", "00123,2025-02-01,phone,-3,yes", "wait_minutes '-3' is below 0"),
        ("support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved", "00123,2025-02-01,phone,abc,yes", "wait_minutes 'abc' is not a number"),
        ("support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved", "00123,2025-02-01,phone,3,maybe", "resolved 'maybe' is not a boolean"),
        ("support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved", "00123,,phone,3,yes", "timestamp is empty (required)"),
        ("complaints", "customer_id,timestamp,category,severity", "00123,2025-02-01,pricing,3", "category 'pricing' is not one of billing"),
        ("complaints", "customer_id,timestamp,category,severity", "00123,2025-02-01,billing,6", "severity '6' is above 5"),
        ("complaints", "customer_id,timestamp,category,severity", "00123,2025-02-01,billing,2.5", "severity '2.5' is not a whole number"),
        ("surveys", "customer_id,timestamp,score", "00123,2025-02-01,11", "score '11' is above 10"),
        ("price_changes", "customer_id,timestamp,old_price,new_price,notice_days", "00123,2025-02-01,20,-1,", "new_price '-1' is below 0"),
        ("tech_faults", "customer_id,timestamp,fault_type,duration_minutes", "00123,2025-02-01,meteor,30", "fault_type 'meteor' is not one of outage"),
        ("retention_actions", "customer_id,timestamp,action,cost,channel", "00123,2025-02-01,discount,5,phone", "action 'discount' is not one of retention_offer"),
        ("retention_actions", "customer_id,timestamp,action,cost,channel", "00123,2025-02-01,none,5,phone", "action 'none' is not one of"),
        ("retention_actions", "customer_id,timestamp,action,cost,channel", "00123,2025-02-01,retention_offer,-5,phone", "cost '-5' is below 0"),
        ("retention_actions", "customer_id,timestamp,action", "00123,,plan_review", "timestamp is empty (required)"),
        ("retention_actions", "customer_id,timestamp,action", "00999,2025-02-01,plan_review", "has no valid subscription"),
        ("subscriptions", "customer_id,start_date,end_date,plan,monthly_price", "00124,2025-01-01,,,20", "plan is empty (required)"),
        ("subscriptions", "customer_id,start_date,end_date,plan,monthly_price", "00124,2025-03-01,2025-03-01,basic,20", "end_date '2025-03-01' is not after start_date"),
    ],
)
def test_row_rules(tmp_path, table, header, row, expected):
    text = f"{header}\n{row}\n" if table != "subscriptions" else SUBS + row + "\n"
    rej = _only_reason(tmp_path, table, text)
    assert expected in rej["reason"]


def test_retention_actions_need_only_customer_time_and_a_playbook_code(tmp_path):
    text = ("customer_id,timestamp,action\n00123,2025-02-01,Retention_Offer\n00123,2025-02-03T10:00:00+01:00,winback_offer\n")
    result, rejects = _rejects(tmp_path, "retention_actions", text)
    assert rejects.empty
    frame = result.dataset.retention_actions
    assert frame["action"].tolist() == ["retention_offer", "winback_offer"]  # folded like every enum
    assert frame["cost"].isna().all() and frame["channel"].isna().all()  # optional columns absent: missing
    assert str(frame["timestamp"].iloc[1]) == "2025-02-03 09:00:00"


def test_several_reasons_are_all_kept(tmp_path):
    row = _only_reason(tmp_path, "support_contacts", "customer_id,timestamp,channel,wait_minutes,resolved\n00123,2025-02-01,phone,-3,maybe\n")
    assert "wait_minutes" in row["reason"] and "resolved" in row["reason"]


@pytest.mark.parametrize("given, canonical", [
    (["Billing", "service", " other ", "BILLING"], ["billing", "service", "other", "billing"]),
    (["billing", "service", "other", "billing"], ["billing", "service", "other", "billing"]),  # kept as read
    (["billing", None, "Other ", "service"], ["billing", None, "other", "service"]),
])
def test_enum_values_are_folded_whether_or_not_any_needs_it(given, canonical):
    from churnml.schemas import TABLES
    from churnml.validation import RawTable, validate_table

    for storage in ("pyarrow", "python"):
        raw = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "timestamp": ["2025-01-01"] * 4,
                            "category": pd.array(given, dtype=f"string[{storage}]"), "severity": [1, 2, 3, 4]})
        frame = validate_table(RawTable("complaints", raw, "x", 1), TABLES["complaints"])[0]
        assert [None if pd.isna(v) else v for v in frame["category"]] == canonical, storage


def test_enum_and_bool_are_case_insensitive(tmp_path):
    result, rej = _rejects(tmp_path, "complaints", "customer_id,timestamp,category,severity\n00123,2025-02-01,Billing,2\n")
    assert rej.empty and result.dataset.complaints["category"][0] == "billing"
    result, rej = _rejects(
        tmp_path / "b",
        "support_contacts",
        "customer_id,timestamp,channel,wait_minutes,resolved\n" + "".join(f"00123,2025-02-01,phone,1,{v}\n" for v in ["TRUE", "no", "1", "0", "Yes"]),
    )
    assert rej.empty and list(result.dataset.support_contacts["resolved"]) == [True, False, True, False, True]


def test_overlapping_periods_reject_the_later_one(tmp_path):
    text = SUBS + "00200,2025-01-01,2025-05-01,basic,20\n00200,2025-04-01,,plus,30\n00300,2025-01-01,2025-02-01,a,1\n00300,2025-02-01,,a,1\n"
    _, rej = _rejects(tmp_path, "subscriptions", text)
    assert list(rej["line"]) == [4] and "overlaps an earlier period" in rej["reason"][0]


def test_open_period_overlaps_anything_after_it(tmp_path):
    rej = _only_reason(tmp_path, "subscriptions", SUBS + "00123,2026-01-01,,plus,30\n")
    assert rej["line"] == 3


def test_event_of_unknown_customer_is_rejected(tmp_path):
    rej = _only_reason(tmp_path, "surveys", "customer_id,timestamp,score\n123,2025-02-01,5\n00123,2025-02-01,5\n")
    assert rej["line"] == 2 and "customer_id '123' has no valid subscription" in rej["reason"]


def test_rows_after_as_of_are_rejected_only_when_asked(tmp_path):
    text = "customer_id,timestamp,score\n00123,2025-02-01,5\n00123,2025-06-02,5\n"
    _, rej = _rejects(tmp_path, "surveys", text)
    assert rej.empty
    rej = _only_reason(tmp_path / "b", "surveys", text, as_of="2025-06-01")
    assert rej["line"] == 3 and "after as-of 2025-06-01" in rej["reason"]


def test_usage_month_counts_as_dated_by_its_last_day(tmp_path):
    text = "customer_id,month,used,allowance\n00123,2025-05-01,1,2\n00123,2025-06-01,1,2\n"
    rej = _only_reason(tmp_path, "usage", text, as_of="2025-06-15")
    assert rej["line"] == 3


def test_duplicate_customer_attributes(tmp_path):
    rej = _only_reason(tmp_path, "customers", "customer_id,region\n00123,north\n00123,south\n")
    assert rej["line"] == 3 and "appears again" in rej["reason"]


def test_malformed_rows_keep_line_numbers(tmp_path):
    text = "customer_id,timestamp,score\n00123,2025-02-01,5\n00123,2025-02-01,5,9\n00123,2025-02-01,50\n"
    result, rej = _rejects(tmp_path, "surveys", text)
    assert list(rej["line"]) == [3, 4]
    assert "row has 4 fields, the header has 3" in rej["reason"][0] and rej["raw"][0] == "00123,2025-02-01,5,9"
    assert "score '50' is above 10" in rej["reason"][1]
    assert result.reports["surveys"].read == 3


def test_blank_line_is_rejected_not_lost(tmp_path):
    result, rej = _rejects(tmp_path, "surveys", "customer_id,timestamp,score\n00123,2025-02-01,5\n\n00123,2025-02-02,6\n")
    assert list(rej["line"]) == [3] and result.reports["surveys"].accepted == 2


def test_ids_stay_strings(tmp_path):
    text = "customer_id,start_date,end_date,plan,monthly_price\n00123,2025-01-01,,basic,20\n123,2025-01-01,,basic,20\n"
    result, rej = _rejects(tmp_path, "subscriptions", text)
    assert rej.empty
    assert sorted(result.dataset.subscriptions["customer_id"]) == ["00123", "123"]


def test_customer_attributes_numeric_or_text(tmp_path):
    result, _ = _rejects(tmp_path, "customers", "customer_id,age,region\n00123,41,north\n")
    frame = result.dataset.customers
    assert frame["age"].dtype == "float64" and pd.api.types.is_string_dtype(frame["region"].dtype)


def test_extra_columns_are_reported_and_ignored(tmp_path):
    result, rej = _rejects(tmp_path, "surveys", "customer_id,timestamp,score,note\n00123,2025-02-01,5,hi\n")
    assert rej.empty and result.reports["surveys"].ignored_columns == ["note"]
    assert "note" not in result.dataset.surveys.columns


def test_ids_a_spreadsheet_would_run_are_rejected(tmp_path):
    from churnml.io import write_rejects

    result, rej = _rejects(tmp_path, "subscriptions", SUBS + "=HYPERLINK(1),2025-01-01,,basic,20\n")
    assert list(rej["line"]) == [3] and "spreadsheets run as a formula" in rej["reason"][0]
    write_rejects(result, tmp_path / "rejects")
    written = pd.read_csv(tmp_path / "rejects" / "subscriptions.csv", dtype=str)
    assert written["customer_id"][0] == "'=HYPERLINK(1)"  # the rejects file itself is neutralised too


@pytest.mark.parametrize(("customer_id", "says"), [
    ("a\x00b", "holds a control or invisible character"),
    ('"a\nb"', "holds a control or invisible character"),
    ("a\x1bb", "holds a control or invisible character"),
    ("a\u0085b", "holds a control or invisible character"),
    ("ab\u202ec", "holds a control or invisible character"),
    ("a\u200bb", "holds a control or invisible character"),
    ("x" * 5000, "is 5000 characters long; ids may hold at most 256"),
    ("=1+2", "spreadsheets run as a formula"),
], ids=["nul", "line_break", "escape", "nel", "rtl_override", "zero_width", "huge", "formula"])
def test_unsafe_ids_are_rejected_with_their_reason(tmp_path, customer_id, says):
    result, rej = _rejects(tmp_path, "subscriptions", SUBS + f"{customer_id},2025-01-01,,basic,20\n")
    assert len(rej) == 1 and says in rej["reason"][0], rej["reason"].tolist()
    assert len(result.dataset.subscriptions) == 1  # the good row stays


# ------------------------------------------------------------------ the fast paths agree with the plain rules

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from churnml.validation import _exact_duplicates, factorize, factorize_together  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "00123", " ", None]), st.integers(0, 2),
                          st.sampled_from([0.0, -0.0, 1.5, float("nan")]), st.sampled_from(["web", "phone", None])),
                min_size=0, max_size=40))
def test_exact_duplicates_equal_pandas_on_any_rows(rows):
    """Candidates by customer and time, then a full comparison: the same rows as DataFrame.duplicated."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "wait", "channel"])
    frame = frame.assign(
        customer_id=frame["customer_id"].astype("str"),
        timestamp=pd.Timestamp("2025-01-01") + pd.to_timedelta(frame["day"], unit="D"),
        channel=frame["channel"].astype("str"),
    ).drop(columns="day")
    found = _exact_duplicates(frame, {}, ["customer_id", "timestamp"])
    assert found.tolist() == frame.duplicated(keep="first").tolist()


def test_exact_duplicates_leave_out_columns_of_lists():
    frame = pd.DataFrame({"customer_id": ["a", "a", "a"], "timestamp": pd.to_datetime(["2025-01-01"] * 3),
                          "tags": [[1], [2], [1]], "wait": [1.0, 1.0, 2.0]})
    assert _exact_duplicates(frame, {}, ["customer_id", "timestamp"]).tolist() == [False, True, False]


def test_ids_coded_together_share_codes_and_fall_back_apart():
    together = factorize_together({"a": pd.Series(["x", "y", None], dtype="str"), "b": pd.Series(["y", "z"], dtype="str")})
    assert together["a"].values is together["b"].values
    a, b = together["a"], together["b"]
    assert a.values[a.codes[1]] == b.values[b.codes[0]] == "y" and a.codes[2] == -1
    apart = factorize_together({"a": pd.Series(["x", "y"], dtype="str"), "b": pd.Series(["y", 3], dtype=object)})
    assert apart["a"].values is not apart["b"].values
    assert factorize(pd.Series([[1], [2]])) is None  # lists do not hash: their column is left out of comparisons


def test_an_event_whose_customer_has_only_a_rejected_period_is_an_orphan(tmp_path):
    subs = SUBS + "00999,2025-03-01,2025-02-01,basic,20\n"  # ends before it starts: rejected
    result = load_dataset(_write(tmp_path / "d", subscriptions=subs, surveys="customer_id,timestamp,score\n00999,2025-04-01,3\n00123,2025-04-01,9\n"))
    rej = result.rejects["surveys"]
    assert rej["customer_id"].tolist() == ["00999"] and "has no valid subscription" in rej["reason"].iloc[0]


@pytest.mark.parametrize("column", [
    pd.Series(pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:00", "2025-01-02 00:00"]).tz_localize("Europe/Paris")),
    pd.Series([1, 1, 2], dtype="Int64"),
    pd.Series([True, True, None], dtype="boolean"),
    pd.Series(["x", "x", "y"], dtype="category"),
    pd.Series([2**60 + 1, 2**60 + 1, 2**60], dtype="int64"),  # beyond a float's integers: only candidates may merge
])
def test_exact_duplicates_of_every_parquet_type(column):
    frame = pd.DataFrame({"customer_id": pd.Series(["a", "a", "a"], dtype="str"),
                          "timestamp": pd.to_datetime(["2025-01-01"] * 3), "value": column})
    assert _exact_duplicates(frame, {}, ["customer_id", "timestamp"]).tolist() == frame.duplicated(keep="first").tolist()
