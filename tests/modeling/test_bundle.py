import json

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


def test_versions_are_never_overwritten_and_latest_moves(tmp_path):
    first, _ = _bundle("v1")
    io.write_bundle(first, tmp_path)
    with pytest.raises(FileExistsError):
        io.write_bundle(first, tmp_path)
    second, _ = _bundle("v2")
    io.write_bundle(second, tmp_path)
    assert io.read_bundle(tmp_path / "latest").version == "v2"


def test_not_a_bundle(tmp_path):
    with pytest.raises(ModelError, match="not a model bundle"):
        io.read_bundle(tmp_path)
