"""Whatever was done to a bundle, `score` refuses it with status 6 and names the file; it never crashes."""

import hashlib
import json
import re
import shutil

import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rehash(bundle, model_text=None, edit_meta=None):
    """Edit model.txt and/or bundle.json, then forge both plain checksums as someone without a key could."""
    if model_text is not None:
        (bundle / "model.txt").write_text(model_text)
    meta = json.loads((bundle / "bundle.json").read_text())
    if edit_meta:
        edit_meta(meta)
    meta["model_sha256"] = _sha((bundle / "model.txt").read_text())
    meta.pop("content_sha256", None)
    meta["content_sha256"] = _sha(json.dumps(meta, indent=2, sort_keys=True, default=str))
    (bundle / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def _edit_json(bundle, edit):
    meta = json.loads((bundle / "bundle.json").read_text())
    edit(meta)
    (bundle / "bundle.json").write_text(json.dumps(meta))


def _numeric_to_category(meta):
    f = next(f for f in meta["features"] if f["dtype"] == "numeric")
    f.update(dtype="category", categories=["a", "b"])


def _digit(text):
    return re.sub(r"(leaf_value=-?)(\d)", lambda m: m[1] + ("2" if m[2] == "1" else "1"), text, count=1)


TAMPERS = {
    "leaf_edited": (lambda b: (b / "model.txt").write_text(_digit((b / "model.txt").read_text())), "model.txt does not match the checksum"),
    "metadata_edited": (lambda b: _edit_json(b, lambda m: m.update(as_of="1999-01-01")), "bundle.json was modified"),
    "rehashed_truncated": (lambda b: _rehash(b, (b / "model.txt").read_text()[:2000]), "not a usable LightGBM model"),
    "rehashed_leaf_count": (lambda b: _rehash(b, (b / "model.txt").read_text().replace("num_leaves=", "num_leaves=99", 1)), "not a usable LightGBM model"),
    "rehashed_tree_header": (lambda b: _rehash(b, (b / "model.txt").read_text().replace("Tree=1\n", "Tree=1\nnum_leaves=-5\n", 1)), "not a usable LightGBM model"),
    "rehashed_feature_renamed": (lambda b: _rehash(b, edit_meta=lambda m: m["features"][0].update(name="renamed")), "list different features"),
    "rehashed_features_garbled": (lambda b: _rehash(b, edit_meta=lambda m: m.update(features=[{"oops": 1}])), "feature list is malformed"),
    "rehashed_format": (lambda b: _rehash(b, edit_meta=lambda m: m.update(format=99)), "bundle format 99 is not supported"),
    "json_random_bytes": (lambda b: (b / "bundle.json").write_bytes(bytes(range(256))), "bundle.json"),
    "json_latin1": (lambda b: (b / "bundle.json").write_bytes((b / "bundle.json").read_bytes().replace(b'"version"', b'"v\xe9rsion"', 1)), "not UTF-8"),
    "json_list": (lambda b: (b / "bundle.json").write_text("[1, 2, 3]"), "not a bundle's metadata"),
    "model_missing": (lambda b: (b / "model.txt").unlink(), "not a model bundle"),
    "json_missing": (lambda b: (b / "bundle.json").unlink(), "not a model bundle"),
    "model_empty": (lambda b: (b / "model.txt").write_text(""), "model.txt does not match the checksum"),
    # Re-hashed edits of the metadata (found by an adversarial run: each was exit 1 before).
    "rehashed_calibrator_method": (lambda b: _rehash(b, edit_meta=lambda m: m["calibrator"].update(method="bogus")), "do not make a usable model"),
    "rehashed_calibrator_removed": (lambda b: _rehash(b, edit_meta=lambda m: m.pop("calibrator")), "do not make a usable model"),
    "rehashed_version_removed": (lambda b: _rehash(b, edit_meta=lambda m: m.pop("version")), "do not make a usable model"),
    "rehashed_ranges_garbled": (lambda b: _rehash(b, edit_meta=lambda m: m.update(numeric_ranges={"x": 5})), "do not make a usable model"),
    "rehashed_feature_type": (lambda b: _rehash(b, edit_meta=_numeric_to_category), "do not make a usable model"),
    "rehashed_config_unusable": (lambda b: _rehash(b, edit_meta=lambda m: m["config"]["labels"].update(horizon_days="sixty")), "configuration is unusable"),
    "rehashed_multiclass": (lambda b: _rehash(b, (b / "model.txt").read_text().replace("num_class=1\n", "num_class=3\n", 1)), "do not make a usable model"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_a_tampered_bundle_is_refused_naming_it(trained, tmp_path, name):
    tamper, says = TAMPERS[name]
    bundle = tmp_path / "bundle"
    shutil.copytree((trained / "models" / "latest").resolve(), bundle)
    tamper(bundle)
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", str(bundle), "--out", str(tmp_path / "s.csv"), cwd=trained)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert says in proc.stderr and str(bundle) in proc.stderr, proc.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("entry", ["x", [1], {"return_model_spec": "x"}, {"return_model_spec": {}, "expected_months": "many"}])
def test_a_malformed_winback_entry_is_status_6_for_winback(trained, tmp_path, entry):
    bundle = tmp_path / "bundle"
    shutil.copytree((trained / "models" / "latest").resolve(), bundle)
    _rehash(bundle, edit_meta=lambda m: m.update(winback=entry))
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", str(bundle), "--out", str(tmp_path / "w.csv"), cwd=trained)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert str(bundle) in proc.stderr and not (tmp_path / "w.csv").exists()
