import re

import numpy as np
import pandas as pd
import pytest

from churnml.features.static import attribute_categories, safe_feature_name, static_feature_names, static_features

CUSTOMERS = pd.Index(["a", "b", "c"], dtype="str", name="customer_id")


def _attributes(table):
    return table(
        "customers",
        [
            {"customer_id": "a", "contract": "Month-to-month", "age": 30, "crm_note": "call back", "plan": "gold"},
            {"customer_id": "b", "contract": "Two year", "age": None, "crm_note": "x", "plan": "silver"},
            {"customer_id": "zz", "contract": "One year", "age": 50, "crm_note": "y", "plan": "gold"},  # not asked for
        ],
    )


def test_numbers_stay_numbers_text_becomes_categories(table):
    got = static_features(_attributes(table), CUSTOMERS, ignore=["crm_note"], reserved=["plan"])
    expected = pd.DataFrame(
        {
            "contract": pd.Categorical(
                ["Month-to-month", "Two year", None], categories=["Month-to-month", "One year", "Two year"]
            ),
            "age": [30.0, np.nan, np.nan],  # c has no customers row
            "customer_plan": pd.Categorical(["gold", "silver", None], categories=["gold", "silver"]),
        },
        index=CUSTOMERS,
    )
    pd.testing.assert_frame_equal(got, expected)


def test_categories_from_the_population_keep_partitions_aligned(table):
    attrs = _attributes(table)
    cats = attribute_categories(attrs, ignore=["crm_note"])
    assert cats == {"contract": ("Month-to-month", "One year", "Two year"), "plan": ("gold", "silver")}
    part = static_features(
        attrs[attrs["customer_id"] == "b"], pd.Index(["b"], dtype="str", name="customer_id"), ["crm_note"], cats
    )
    assert list(part["contract"].cat.categories) == ["Month-to-month", "One year", "Two year"]
    assert part["contract"].cat.codes.tolist() == [2]


def test_feature_names_avoid_other_features_and_skip_dates():
    dtypes = {
        "customer_id": "str",
        "plan": "str",
        "customer_plan": "float64",
        "label": "float64",
        "signup": "datetime64[ns]",
        "x": "bool",
    }
    names = static_feature_names(dtypes, ignore=[], reserved=["plan"])
    # In column order: "plan" is taken by the plan feature, so it becomes customer_plan, which pushes the
    # attribute really called customer_plan one prefix further.
    assert names == {
        "plan": "customer_plan",
        "customer_plan": "customer_customer_plan",
        "label": "customer_label",
        "x": "x",
    }
    assert "signup" not in names


def test_no_customers_table(table):
    got = static_features(table("customers", []), CUSTOMERS)
    assert got.shape == (3, 0) and list(got.index) == list(CUSTOMERS)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("PaymentMethod", "PaymentMethod"),  # already safe: kept, so existing configs and models keep their names
        ("tenure_months", "tenure_months"),
        ("Customer service calls", "customer_service_calls"),
        ("Total day charge (USD)", "total_day_charge_usd"),
        ("Monthly fee/€", "monthly_fee"),
        ("Région", "region"),
        ("a,b:c[d]{e}\"f'", "a_b_c_d_e_f"),  # LightGBM's JSON punctuation
        ("2nd line", "attribute_2nd_line"),
        ("€€", "attribute"),
        ("顧客", "attribute"),
        ("  padded  ", "padded"),
    ],
)
def test_safe_feature_names(header, name):
    assert safe_feature_name(header) == name
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", safe_feature_name(header))


def test_headers_that_clean_alike_get_distinct_names():
    names = static_feature_names({"customer_id": "str", "a b": "float64", "a_b": "float64", "A-B": "str", "€": "str", "¥": "str"}, [], [])
    assert names == {"a b": "a_b", "a_b": "customer_a_b", "A-B": "customer_customer_a_b", "€": "attribute", "¥": "customer_attribute"}
    assert len(set(names.values())) == len(names)


def test_a_header_keeps_its_words_in_the_reason_and_label():
    from churnml.config import ChurnConfig
    from churnml.features import feature_registry, render_reason
    from churnml.report.labels import feature_label

    registry = feature_registry(ChurnConfig(), {"customer_id": "str", "Customer service calls": "float64", "{odd} header": "str"})
    calls, odd = registry["customer_service_calls"], registry["odd_header"]
    assert render_reason(calls, 4.0) == "Customer service calls is 4"
    assert render_reason(odd, "x") == "{odd} header is x"  # a brace in a header is text, not a template field
    assert feature_label(calls, calls.name) == "Customer service calls"
