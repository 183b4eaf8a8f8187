"""Rows that would quietly change results are rejected with a reason, or the table is refused; nothing is lost."""

import pandas as pd
import pytest

from churnml import io
from churnml.errors import InputError

SUBS = "customer_id,start_date,end_date,plan,monthly_price\n" + "".join(f"{i:05d},2024-01-01,,basic,10\n" for i in range(12))


def _dataset(tmp_path, **tables):
    d = tmp_path / "data"
    d.mkdir()
    (d / "subscriptions.csv").write_text(SUBS)
    for name, text in tables.items():
        (d / f"{name}.csv").write_text(text)
    return d


def _rejects(result, table):
    rep = result.reports[table]
    assert rep.accepted + rep.rejected == rep.read
    return result.rejects[table]


@pytest.mark.parametrize(
    ("value", "ok"),
    [("2024-03-05", True), ("2024-03-05T10:00:00", True), ("2024-03-05 10:00:00+02:00", True), ("2019", False),
     ("20190101", False), ("2019-03", False), ("5 March 2024", False), ("2024-3-5", False)],
)
def test_only_full_iso_dates_are_dates(tmp_path, value, ok):
    d = _dataset(tmp_path, surveys=f"customer_id,timestamp,score\n00001,{value},7\n")
    result = io.load_dataset(d)
    rejected = _rejects(result, "surveys")
    assert len(rejected) == (0 if ok else 1)
    if not ok:
        assert rejected.loc[0, "line"] == 2 and "timestamp" in rejected.loc[0, "reason"] and value in rejected.loc[0, "reason"]


def test_exact_duplicate_events_count_once(tmp_path):
    row = "00001,2024-02-01T10:00:00,phone,5,true\n"
    d = _dataset(tmp_path, support_contacts="customer_id,timestamp,channel,wait_minutes,resolved\n" + row + row + row
                 + "00001,2024-02-01T10:00:00,phone,6,true\n")
    result = io.load_dataset(d)
    rejected = _rejects(result, "support_contacts")
    assert rejected["line"].tolist() == [3, 4] and rejected["reason"].str.contains("exact duplicate").all()
    assert len(result.dataset.support_contacts) == 2  # the same moment with another wait is another contact


def test_a_numeric_attribute_stays_numeric_and_its_stray_value_is_rejected(tmp_path):
    ages = [str(20 + i) for i in range(11)] + ["n/a"]
    d = _dataset(tmp_path, customers="customer_id,age,segment\n" + "".join(f"{i:05d},{a},s{i % 3}\n" for i, a in enumerate(ages)))
    result = io.load_dataset(d)
    rejected = _rejects(result, "customers")
    assert rejected["line"].tolist() == [13] and "'n/a' is not a number" in rejected.loc[0, "reason"]
    assert result.dataset.customers["age"].dtype == "float64"
    assert result.dataset.customers["segment"].dtype != "float64"  # a text column stays text


def test_a_mostly_text_column_stays_text(tmp_path):
    values = ["gold", "silver"] * 5 + ["3", "4"]
    d = _dataset(tmp_path, customers="customer_id,tier\n" + "".join(f"{i:05d},{v}\n" for i, v in enumerate(values)))
    result = io.load_dataset(d)
    assert len(_rejects(result, "customers")) == 0 and result.dataset.customers["tier"].dtype != "float64"


def test_parquet_ids_stored_as_numbers_are_refused(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({"customer_id": [123, 124], "start_date": ["2024-01-01"] * 2, "end_date": [None, None], "plan": "basic",
                  "monthly_price": 10.0}).to_parquet(d / "subscriptions.parquet")
    with pytest.raises(InputError, match="customer_id is stored as int64 numbers, which drops leading zeros"):
        io.load_dataset(d)


def test_parquet_integer_dates_are_rejected_row_by_row(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({"customer_id": ["00001", "00002"], "start_date": [20240101, 20240201], "end_date": [None, None],
                  "plan": "basic", "monthly_price": 10.0}).to_parquet(d / "subscriptions.parquet")
    result = io.load_dataset(d)
    rejected = _rejects(result, "subscriptions")
    assert len(rejected) == 2 and rejected["reason"].str.contains("start_date '20240101' is not an ISO-8601 date").iloc[0]


def test_rows_after_as_of_do_not_count_towards_the_reject_share(tmp_path):
    contacts = "".join(f"00001,2024-{m:02d}-05T10:00:00,phone,5,true\n" for m in range(1, 13))
    d = _dataset(tmp_path, support_contacts="customer_id,timestamp,channel,wait_minutes,resolved\n" + contacts)
    result = io.load_dataset(d, as_of="2024-03-01")
    rep = result.reports["support_contacts"]
    assert rep.rejected == 10 and rep.after_as_of == 10 and rep.error_share == 0.0  # 10 of 12 lie after T


def test_a_parquet_column_of_lists_does_not_stop_the_duplicate_check(tmp_path):
    d = _dataset(tmp_path)
    (d / "subscriptions.csv").unlink()
    pd.DataFrame({"customer_id": ["00001", "00001", "00002"], "start_date": ["2024-01-01"] * 3, "end_date": [None] * 3,
                  "plan": "basic", "monthly_price": 10.0}).iloc[[0, 2]].to_parquet(d / "subscriptions.parquet")
    pd.DataFrame({"customer_id": ["00001", "00001"], "timestamp": ["2024-02-01T10:00:00"] * 2, "score": ["7", "7"],
                  "tags": [[1, 2], [1, 2]]}).to_parquet(d / "surveys.parquet")
    result = io.load_dataset(d)
    assert _rejects(result, "surveys")["reason"].str.contains("exact duplicate").tolist() == [True]


def test_parquet_ids_stored_as_bytes_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "data"
    d.mkdir()
    (d / "subscriptions.csv").write_text(SUBS)
    pq.write_table(pa.table({"customer_id": pa.array([b"00001"], pa.binary()), "timestamp": ["2024-02-01"], "score": [7]}),
                   d / "surveys.parquet")
    with pytest.raises(InputError, match="surveys.parquet: customer_id is stored as bytes"):
        io.load_dataset(d)


def _ids(kind):
    import datetime
    import decimal

    import pyarrow as pa

    return {
        "decimal": pa.array([decimal.Decimal("1.00")], pa.decimal128(5, 2)),
        "list": pa.array([["00001"]], pa.list_(pa.string())),
        "timestamp": pa.array([datetime.datetime(2024, 1, 1)], pa.timestamp("us")),
        "bool": pa.array([True]),
        "float": pa.array([1.0]),
        "text": pa.array(["00001"]),
        "large_text": pa.array(["00001"], pa.large_string()),
        "categorical": pa.array(["00001"]).dictionary_encode(),
    }[kind]


@pytest.mark.parametrize(("kind", "refused"), [("decimal", "decimal128(5, 2) numbers"), ("list", "list<"), ("timestamp", "timestamp[us]"),
                                              ("bool", "bool"), ("float", "double numbers"), ("text", None), ("large_text", None),
                                              ("categorical", None)])
def test_parquet_ids_must_be_text(tmp_path, kind, refused):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "data"
    d.mkdir()
    (d / "subscriptions.csv").write_text(SUBS)
    pq.write_table(pa.table({"customer_id": _ids(kind), "timestamp": ["2024-02-01T10:00:00"], "score": ["7"]}), d / "surveys.parquet")
    if refused is None:
        assert io.load_dataset(d).reports["surveys"].accepted == 1
        return
    with pytest.raises(InputError, match="surveys.parquet: customer_id is stored as") as info:
        io.load_dataset(d)
    assert refused in str(info.value) and "write it as a string column" in str(info.value)


def test_parquet_columns_that_collide_once_stripped_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "data"
    d.mkdir()
    (d / "subscriptions.csv").write_text(SUBS)
    pq.write_table(pa.table({"customer_id": ["00001"], "timestamp": ["2024-02-01T10:00:00"], "score": ["7"], "score ": ["8"]}),
                   d / "surveys.parquet")
    with pytest.raises(InputError, match=r"surveys.parquet: column names appear more than once \(spaces around them removed\): 'score' in columns"):
        io.load_dataset(d)


def test_quoted_headers_with_spaces_around_them_are_read(tmp_path):
    d = _dataset(tmp_path, surveys=' "customer_id" , timestamp ,score\n00001,2024-02-01T10:00:00,7\n')
    result = io.load_dataset(d)
    assert result.reports["surveys"].accepted == 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_rejects_name_the_real_line_after_quoted_line_breaks(tmp_path, newline):
    # A CRM note with line breaks inside quotes is legal CSV: the rows after it start on later lines.
    rows = [
        "customer_id,timestamp,score,note",
        f'00001,2024-02-01,7,"called twice{newline}{newline}about the bill"',  # lines 2-4
        "00002,2024-02-01,8,",
        "00003,not-a-date,9,",  # line 6: a bad date
        "00004,2024-02-01,7,x,extra",  # line 7: one field too many
        f'00005,2024-02-01,11,"a{newline}b"',  # lines 8-9: a score out of range
        "00006,2024-02-01,5,",  # line 10
    ]
    d = _dataset(tmp_path, surveys=newline.join(rows) + newline)
    result = io.load_dataset(d)
    rejected = _rejects(result, "surveys")
    assert rejected["line"].tolist() == [6, 7, 8]
    assert rejected["reason"].tolist()[1].startswith("row has 5 fields")
    assert sorted(result.dataset.surveys["customer_id"]) == ["00001", "00002", "00006"]


@pytest.mark.parametrize(
    ("rows", "newline", "lines"),
    [
        # bare CR line ends (old Mac exports) around a quoted LF
        (['00001,2024-02-01,7,"a\nb"', "00002,bad,7,", "00003,2024-02-01,7,x,extra", "00004,bad,7,"], "\r", [4, 5, 6]),
        # a closed multi-line note in a row with one field too many: that row is rejected, the file is read
        (['00001,2024-02-01,7,"a\nb",extra', "00002,bad,7,", '00003,2024-02-01,7,"x\r\ny"', "00004,bad,7,"], "\n", [2, 4, 7]),
        # CRLF line ends with a bare CR inside a quoted value
        (['00001,2024-02-01,7,"a\rb"', "00002,bad,7,", "00003,bad,7,"], "\r\n", [4, 5]),
    ],
    ids=["bare_cr", "closed_break_extra_field", "crlf_with_cr_value"],
)
def test_rejects_name_the_real_line_whatever_the_line_ends(tmp_path, rows, newline, lines):
    d = _dataset(tmp_path)
    (d / "surveys.csv").write_bytes(newline.join(["customer_id,timestamp,score,note", *rows]).encode() + newline.encode())
    result = io.load_dataset(d)
    assert _rejects(result, "surveys")["line"].tolist() == lines


def test_a_quote_left_open_is_refused_with_the_line_it_starts_on(tmp_path):
    d = _dataset(tmp_path, surveys='customer_id,timestamp,score\n00001,2024-02-01,"a\nb"\n00002,"2024-02-01,7\n'
                                   '00003,2024-02-01,8\n')
    with pytest.raises(InputError, match="starts on line 4 runs over 2 lines"):
        io.load_dataset(d)


def test_a_formula_in_a_column_name_never_reaches_a_rejects_header(tmp_path):
    d = _dataset(tmp_path, surveys='customer_id,timestamp,score,"=HYPERLINK(""http://x"")"\n00001,2019,7,a\n')
    result = io.load_dataset(d)
    assert len(_rejects(result, "surveys")) == 1
    written = io.write_rejects(result, tmp_path / "rejects")
    header = (tmp_path / "rejects" / "surveys.csv").read_text().splitlines()[0]
    assert written and "'=HYPERLINK" in header and ",=HYPERLINK" not in header
