from pathlib import Path

import pytest

from churnml.config import ChurnConfig, Family, default_config_yaml, load_config, parse_config
from churnml.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_matches_the_models():
    text = (ROOT / "configs" / "default.yaml").read_text()
    assert text == default_config_yaml(), "configs/default.yaml is stale: regenerate it with default_config_yaml()"
    assert load_config(ROOT / "configs" / "default.yaml") == ChurnConfig()


def test_unknown_key_is_refused_with_its_path():
    with pytest.raises(ConfigError, match=r"labels\.horizon: unknown key"):
        parse_config({"labels": {"horizon": 30}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"labels\.grace_days: .*integer.*'soon'"):
        parse_config({"labels": {"grace_days": "soon"}})


def test_flagging_needs_exactly_one_policy():
    with pytest.raises(ConfigError, match="exactly one"):
        parse_config({"flagging": {"top_fraction": 0.1, "probability_threshold": 0.5}})
    cfg = parse_config({"flagging": {"top_fraction": None, "probability_threshold": 0.5}})
    assert cfg.flagging.probability_threshold == 0.5


def test_tiers_must_be_ordered():
    with pytest.raises(ConfigError, match="must not exceed"):
        parse_config({"flagging": {"tiers": {"high": 0.1, "medium": 0.2}}})


def test_static_attribute_family_is_typed():
    cfg = parse_config({"static_attribute_families": {"contract_type": "price"}})
    assert cfg.static_attribute_families["contract_type"] is Family.PRICE
    with pytest.raises(ConfigError, match="static_attribute_families.contract_type"):
        parse_config({"static_attribute_families": {"contract_type": "cost"}})


def test_windows_are_sorted_and_positive():
    assert parse_config({"features": {"windows_days": [90, 30, 30]}}).features.windows_days == [30, 90]
    with pytest.raises(ConfigError, match="between 1 and 36500"):
        parse_config({"features": {"windows_days": [0, 30]}})


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml, line 2, column 1: not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)


def test_fingerprint_changes_with_config():
    assert ChurnConfig().fingerprint() == ChurnConfig().fingerprint()
    assert ChurnConfig().fingerprint() != parse_config({"labels": {"horizon_days": 30}}).fingerprint()


def test_a_yaml_merge_key_brings_defaults_the_keys_beside_it_override(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("labels:\n  <<: {horizon_days: 30, grace_days: 10}\n  grace_days: 20\n")
    labels = load_config(path).labels
    assert (labels.horizon_days, labels.grace_days) == (30, 20)
