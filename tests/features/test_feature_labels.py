"""Features' plain names: how the report's tables and charts name each feature."""

import pytest

from churnml.config import ChurnConfig, parse_config
from churnml.features import feature_label, feature_registry


@pytest.mark.parametrize("config", [ChurnConfig(), parse_config({"features": {"windows_days": [7, 400]}})])
def test_every_label_is_plain_words_and_unique(config):
    registry = feature_registry(config, {"customer_id": "str", "payment_method": "str", "Monthly fee/€": "float64"})
    labels = {name: feature_label(spec, name) for name, spec in registry.items()}
    for name, label in labels.items():
        # no placeholder for a value (the analyst read "N repeat support contacts ..." literally)
        assert "N" not in label.split() and "{" not in label and "…" not in label, (name, label)
        assert label and label == label.strip(), name
    assert len(set(labels.values())) == len(labels), "two features share a label"
    assert labels["payment_method"] == "payment method"  # a header that is a safe name reads with spaces
    assert labels["monthly_fee"] == "Monthly fee/€"  # any other header is kept as written


def test_default_labels_read_as_analysts_name_them():
    registry = feature_registry(ChurnConfig(), {})
    labels = {name: feature_label(spec, name) for name, spec in registry.items()}
    assert labels["support_contacts_30d"] == "support contacts in the last 30 days"
    assert labels["monthly_price"] == "monthly price"
    assert labels["faults_minutes_180d"] == "minutes of faults in the last 180 days"


def test_labels_follow_the_configured_windows():
    registry = feature_registry(parse_config({"features": {"windows_days": [7, 400]}}), {})
    names = {feature_label(spec, name) for name, spec in registry.items()}
    assert "support contacts in the last 400 days" in names and "support contacts in the last 7 days" in names
