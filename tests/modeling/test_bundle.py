import json
import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnml import io
from churnml.config import Family
from churnml.errors import ModelError
from churnml.modeling.bundle import FeatureInfo, ModelBundle
from churnml.modeling.calibration import Calibrator


def _bundle(version="20260101-000000-abcdef12") -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"waits": rng.exponential(5, 2000), "plan": pd.Categorical(rng.choice(["a", "b"], 2000))})
    y = (X["waits"] + (X["plan"] == "b") * 3 + rng.normal(0, 2, 2000) > 8).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": 1}, lgb.Dataset(X, y), 20)
    cal = Calibrator("isotonic").fit(booster.predict(X), y)
    features = [FeatureInfo("waits", Family.SERVICE, "numeric"), FeatureInfo("plan", Family.PRICE, "category", ("a", "b"))]
    return ModelBundle(booster, cal, features, {"version": version}), X


def test_bundle_round_trip_predicts_the_same(tmp_path):
    bundle, X = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    loaded = io.read_bundle(tmp_path / "latest")
    assert loaded.version == bundle.version and (tmp_path / "latest").resolve() == path.resolve()
    np.testing.assert_allclose(loaded.predict(X), bundle.predict(X))
    assert [f.family for f in loaded.features] == [Family.SERVICE, Family.PRICE]


def test_bundle_has_no_pickle(tmp_path):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["bundle.json", "model.txt"]
    assert (path / "model.txt").read_text().startswith("tree")
    json.loads((path / "bundle.json").read_text())


def test_tampered_model_is_refused(tmp_path):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    text = (path / "model.txt").read_text()
    (path / "model.txt").write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(ModelError, match="model.txt does not match the checksum"):
        io.read_bundle(path)


def test_tampered_metadata_is_refused(tmp_path):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    meta = json.loads((path / "bundle.json").read_text())
    meta["calibrator"]["y"] = [1.0 for _ in meta["calibrator"]["y"]]
    (path / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="bundle.json was modified"):
        io.read_bundle(path)


def test_missing_feature_is_refused_by_name():
    bundle, X = _bundle()
    with pytest.raises(ModelError, match="needs features the data does not produce: plan"):
        bundle.predict(X.drop(columns=["plan"]))


def test_unseen_category_becomes_missing_not_an_error():
    bundle, X = _bundle()
    odd = X.head(3).assign(plan=pd.Categorical(["zzz", "a", "b"]))
    prepared = bundle.prepare(odd)
    assert prepared["plan"].isna().tolist() == [True, False, False]
    assert list(prepared["plan"].cat.categories) == ["a", "b"]
    assert np.isfinite(bundle.predict(odd)).all()


@pytest.mark.slow
def test_versions_are_never_overwritten_and_latest_moves(tmp_path):
    first, _ = _bundle("v1")
    io.write_bundle(first, tmp_path)
    written = (tmp_path / "v1" / "bundle.json").read_bytes()
    again, _ = _bundle("v1")  # the same version (two trainings in one second): the next free suffix, never v1
    assert io.write_bundle(again, tmp_path) == tmp_path / "v1-2"
    assert (tmp_path / "v1" / "bundle.json").read_bytes() == written
    assert io.read_bundle(tmp_path / "v1-2").version == "v1-2" and io.read_bundle(tmp_path / "v1").version == "v1"
    second, _ = _bundle("v2")
    io.write_bundle(second, tmp_path)
    assert io.read_bundle(tmp_path / "latest").version == "v2"


def test_a_version_taken_by_another_run_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    first, _ = _bundle("v1")
    real = io._write_bundle_folder

    def racing(bundle, models_dir, final, key):
        if final.name == "v1":  # another training renames its folder to v1 just before this one does
            (final).mkdir()
            (final / "model.txt").write_text("theirs")
        return real(bundle, models_dir, final, key)

    monkeypatch.setattr(io, "_write_bundle_folder", racing)
    assert io.write_bundle(first, tmp_path) == tmp_path / "v1-2"
    assert (tmp_path / "v1" / "model.txt").read_text() == "theirs"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_not_a_bundle(tmp_path):
    with pytest.raises(ModelError, match="not a model bundle"):
        io.read_bundle(tmp_path)


def _rehash(path, model_text):
    """What an attacker without the key can do: edit model.txt and recompute both plain checksums."""
    from churnml.modeling.bundle import sha256_text

    (path / "model.txt").write_text(model_text)
    meta = json.loads((path / "bundle.json").read_text())
    meta["model_sha256"] = sha256_text(model_text)
    meta.pop("content_sha256")
    meta["content_sha256"] = sha256_text(json.dumps({k: v for k, v in meta.items() if k != "signature"}, indent=2, sort_keys=True, default=str))
    (path / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("leaf_value=", "leaf_value=1 2 3 ", 1),  # a tree whose arrays no longer agree
        lambda t: t.replace("num_leaves=", "num_leaves=9999", 1),
        lambda t: t[: len(t) // 2],  # cut short
        lambda t: t.replace("Tree=1\n", "Tree=1\nnum_leaves=-5\n", 1),
    ],
    ids=["leaf_values", "num_leaves", "truncated", "negative_leaves"],
)
def test_a_malformed_rehashed_model_is_a_model_error_not_a_crash(tmp_path, edit):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    _rehash(path, edit((path / "model.txt").read_text()))
    with pytest.raises(ModelError, match="not a usable LightGBM model"):
        io.read_bundle(path)


@pytest.mark.slow
def test_a_signed_bundle_loads_only_with_its_key(tmp_path):
    bundle, X = _bundle()
    path = io.write_bundle(bundle, tmp_path, key=b"nightly-secret")
    assert len(json.loads((path / "bundle.json").read_text())["signature"]) == 64
    np.testing.assert_allclose(io.read_bundle(path, key=b"nightly-secret").predict(X), bundle.predict(X))
    io.read_bundle(path)  # without a configured key the plain checksums still hold
    with pytest.raises(ModelError, match="signature that the configured key did not make"):
        io.read_bundle(path, key=b"another-key")


def test_a_rehashed_edit_of_a_signed_bundle_is_refused(tmp_path):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path, key=b"nightly-secret")
    # One digit of one leaf changed: the same length, so the header's tree sizes still hold and the model parses.
    text = (path / "model.txt").read_text()
    _rehash(path, re.sub(r"(leaf_value=-?)(\d)", lambda m: m[1] + ("2" if m[2] == "1" else "1"), text, count=1))
    io.read_bundle(path)  # the plain checksums were forged successfully...
    with pytest.raises(ModelError, match="signature"):
        io.read_bundle(path, key=b"nightly-secret")  # ...the signature cannot be


def test_an_unsigned_bundle_is_refused_when_a_key_is_configured(tmp_path):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    with pytest.raises(ModelError, match="not signed"):
        io.read_bundle(path, key=b"nightly-secret")


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"\xff\xfe not utf-8", "not UTF-8"), (b"[1, 2]", "not a bundle's metadata"), (b"{not json", "not valid JSON")],
)
def test_unreadable_bundle_json_is_a_model_error(tmp_path, content, match):
    bundle, _ = _bundle()
    path = io.write_bundle(bundle, tmp_path)
    (path / "bundle.json").write_bytes(content)
    with pytest.raises(ModelError, match=match):
        io.read_bundle(path)


def test_bundle_folders_follow_the_umask(tmp_path):
    import os
    import stat

    bundle, _ = _bundle()
    old = os.umask(0o022)
    try:
        path = io.write_bundle(bundle, tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755  # readable by the scheduler's user, not 0700
    assert stat.S_IMODE((path / "model.txt").stat().st_mode) == 0o644


@pytest.mark.parametrize("levels", [("a", "b"), ("b", "a", "c")])
def test_a_matrix_of_category_codes_predicts_as_the_prepared_frame(tmp_path, levels):
    """predict_codes reads each category as the bundle's code and hands LightGBM the position it was trained on,
    also where the bundle lists the levels in another order than the booster or one it never saw."""
    bundle, _ = _bundle()
    bundle = ModelBundle(bundle.booster, bundle.calibrator,
                         [bundle.features[0], FeatureInfo("plan", Family.PRICE, "category", levels)], bundle.meta)
    frame = pd.DataFrame({"waits": [1.0, 9.0, np.nan, 4.0], "plan": ["a", "b", "b", None]})
    prepared = bundle.prepare(frame)
    M = np.column_stack([prepared["waits"].to_numpy(float), prepared["plan"].cat.codes.to_numpy(float)])
    M[M[:, 1] < 0, 1] = np.nan
    np.testing.assert_allclose(bundle.predict_codes(M), bundle.predict_raw(prepared), rtol=0, atol=0)
    np.testing.assert_allclose(bundle.predict_codes(M, raw_score=True), bundle.predict_log_odds(prepared), rtol=0, atol=0)
    c = M.copy()  # the caller's matrix is left as it was
    bundle.predict_codes(M)
    np.testing.assert_array_equal(M, c)
