"""Static attributes from the ``customers`` table: numbers as they are, text as pandas categories."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from churnml.features._common import positions_in

# Names the training table uses for its own columns; an attribute may not shadow them either.
RESERVED_COLUMNS = frozenset({"customer_id", "snapshot_date", "lifecycle_stage", "label"})
_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSAFE_RUN = re.compile(r"[^a-z0-9]+")


def safe_feature_name(column: object) -> str:
    """A feature name every tool keeps exactly: ASCII letters, digits and ``_``, not starting with a digit.

    LightGBM rewrites spaces and JSON punctuation in feature names, so a CRM header such as ``Customer service
    calls`` or ``Monthly fee/€`` would no longer match its model. A name already safe is kept as it is (Telco's
    ``PaymentMethod`` stays); any other is folded to ASCII, lower-cased and joined with ``_``
    (``customer_service_calls``, ``monthly_fee``). The original header stays the feature's label.
    """
    text = str(column)
    if _SAFE.fullmatch(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    name = _UNSAFE_RUN.sub("_", ascii_text).strip("_")
    return f"attribute_{name}".rstrip("_") if not name or name[0].isdigit() else name


def is_numeric_attribute(dtype: object) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def is_usable_attribute(dtype: object) -> bool:
    """Dates are not attributes a model should see as such (they leak calendar time), so they are left out."""
    return not (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype))


def static_feature_names(
    columns: Mapping[str, object], ignore: Collection[str], reserved: Collection[str]
) -> dict[str, str]:
    """Attribute column -> feature name, for the columns that become features.

    A column's name is :func:`safe_feature_name` of its header. A name another feature already has (a built-in
    feature, or an earlier header that cleans to the same name) gets a ``customer_`` prefix, repeated until
    unique, so the name depends on nothing but the column names, their order and the reserved names.
    """
    taken = set(reserved) | RESERVED_COLUMNS
    names: dict[str, str] = {}
    for col, dtype in columns.items():
        if col == "customer_id" or col in ignore or not is_usable_attribute(dtype):
            continue
        name = safe_feature_name(col)
        while name in taken:
            name = f"customer_{name}"
        taken.add(name)
        names[col] = name
    return names


def attribute_categories(customers_table: pd.DataFrame, ignore: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Sorted distinct values of every text attribute: the categories of its feature (population-wide)."""
    out: dict[str, tuple[str, ...]] = {}
    for col in customers_table.columns:
        dtype = customers_table[col].dtype
        if col == "customer_id" or col in ignore or is_numeric_attribute(dtype) or not is_usable_attribute(dtype):
            continue
        values = customers_table[col].dropna().astype("str").unique()
        out[col] = tuple(sorted(values))
    return out


def static_features(
    customers_table: pd.DataFrame,
    customers: pd.Index,
    ignore: Iterable[str] = (),
    categories: Mapping[str, tuple[str, ...]] | None = None,
    reserved: Collection[str] = (),
) -> pd.DataFrame:
    """One row per customer in ``customers``: numeric attributes as float64, the others as categories.

    ``categories`` (from :func:`attribute_categories` on the whole table) keeps category codes identical across
    partitions. Customers without a ``customers`` row get missing values; a duplicated id keeps its first row.
    """
    ignore = set(ignore)
    names = static_feature_names(dict(customers_table.dtypes.items()), ignore, reserved)
    table = customers_table.drop_duplicates("customer_id", keep="first") if len(customers_table) else customers_table
    where = positions_in(table["customer_id"], customers)
    mine = where >= 0
    rows, targets = np.flatnonzero(mine), where[mine]
    cats = categories if categories is not None else attribute_categories(table, ignore)
    out: dict[str, object] = {}
    for col, name in names.items():
        series = table[col]
        if is_numeric_attribute(series.dtype):
            values = np.full(len(customers), np.nan)
            values[targets] = series.to_numpy(dtype=np.float64, na_value=np.nan)[rows]
            out[name] = values
        else:
            values = np.full(len(customers), None, dtype=object)
            values[targets] = series.astype("str").to_numpy(dtype=object)[rows]
            known = cats.get(col)
            if known is None:
                known = tuple(sorted(series.dropna().astype("str").unique()))
            out[name] = pd.Categorical(values, categories=list(known))
    return pd.DataFrame(out, index=customers.rename("customer_id"))
