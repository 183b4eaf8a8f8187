import numpy as np
import pandas as pd

from churnml.features.static import attribute_categories, static_feature_names, static_features

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
