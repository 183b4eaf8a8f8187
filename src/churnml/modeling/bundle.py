"""The model bundle: LightGBM's native text model plus JSON metadata, never a pickle.

A bundle directory holds ``model.txt`` and ``bundle.json``; ``bundle.json`` records the sha256 of
``model.txt`` and its own content hash, and loading refuses a bundle whose files do not match them. A plain hash
only catches accidents: anyone who edits the model can re-hash it. With a signing key (config ``signing``), the
bundle also carries an HMAC-SHA256 of both hashes, which only a holder of the key can produce, and loading with
the key refuses a bundle without a valid signature.

LightGBM's parser aborts the whole process on some malformed model texts (SIGABRT, SIGSEGV) instead of raising,
so a model text is first parsed, and used for one prediction, in a child process; only a text that survives
there is loaded here. Reading and writing the directory is :mod:`churnml.io`'s job; this module holds the
in-memory object and its checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnml.config import Action, Family
from churnml.errors import ModelError
from churnml.modeling.calibration import Calibrator

BUNDLE_FORMAT = 1
# The only further files a bundle folder may carry: the win-back return model; the uplift models (untreated, and one
# per playbook action recorded in retention_actions).
ATTACHMENT_NAMES = ("return_model.txt", "uplift_control.txt", *(f"uplift_{a.value}.txt" for a in Action))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def signature(key: bytes, model_sha256: str, content_sha256: str) -> str:
    """HMAC-SHA256 over both checksums: proof that a holder of ``key`` wrote this exact model and metadata."""
    return hmac.new(key, f"{model_sha256}:{content_sha256}".encode("ascii"), hashlib.sha256).hexdigest()


# The child blocks the optional libraries LightGBM would import (pandas, scikit-learn, Dask, ...): parsing a model
# text and predicting on a NumPy matrix needs none of them, and they are most of a child's start-up time.
_PROBE = """
import sys
for name in ("pandas", "sklearn", "dask", "distributed", "pyarrow", "matplotlib", "graphviz", "cffi", "datatable"):
    sys.modules[name] = None
import numpy as np
import lightgbm as lgb
booster = lgb.Booster(model_str=sys.stdin.read())
n = booster.num_feature()
booster.predict(np.full((2, n), np.nan))
booster.predict(np.zeros((2, n)), pred_contrib=True)
print(n)
"""
_PROBE_SECONDS = 120


def probe_model_texts(texts: dict[str, str], source: str) -> None:
    """Parse every model text of a bundle (file name -> text) and predict with it in a child process, all at once;
    a crash or error in any is a :class:`ModelError`.

    LightGBM answers some malformed texts by aborting its process rather than raising; here that process is a
    throwaway one, and the caller's survives to report the problem.
    """
    children = []
    for name, text in texts.items():
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        children.append((name, text, proc))
    failures = []
    for name, text, proc in children:
        try:
            _, stderr = proc.communicate(text, timeout=_PROBE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{source}/{name}: LightGBM did not finish parsing it in {_PROBE_SECONDS} s; retrain or restore the bundle")
            continue
        if proc.returncode != 0:
            lines = [ln for ln in (stderr or "").splitlines() if ln.strip()]
            fatal = next((ln for ln in reversed(lines) if "Fatal" in ln or "Error" in ln), lines[-1] if lines else "")
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
            failures.append(
                f"{source}/{name} is not a usable LightGBM model (parsing it stopped with {how}: {fatal.strip()[:300]}); "
                "retrain or restore the bundle"
            )
    if failures:
        raise ModelError(failures[0])


@dataclass(frozen=True)
class FeatureInfo:
    """One model input: its cause family, dtype and, for categoricals, the levels seen in training."""

    name: str
    family: Family
    dtype: str  # "numeric" or "category"
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "family": self.family.value, "dtype": self.dtype}
        if self.categories is not None:
            d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureInfo:
        cats = d.get("categories")
        return cls(d["name"], Family(d["family"]), d["dtype"], tuple(cats) if cats is not None else None)


@dataclass
class ModelBundle:
    """A trained churn model: booster, calibrator, feature contract and metadata."""

    booster: lgb.Booster
    calibrator: Calibrator
    features: list[FeatureInfo]
    meta: dict[str, Any] = field(default_factory=dict)
    # Further model texts kept in the bundle folder (e.g. the win-back return model), by file name; bundle.json
    # records each one's sha256, so they are verified (and signed) with the rest.
    attachments: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def fit_counts(self, frame: pd.DataFrame, prepared: pd.DataFrame) -> dict[str, dict[str, list[int]]]:
        """How far a frame of features lies from what the model was trained on, as ``[count, present]`` pairs:
        ``unseen_levels`` per categorical feature (values not among its training levels) and ``out_of_range`` per
        numeric feature (values outside the training minimum and maximum, where the bundle records them).
        ``prepared`` is :meth:`prepare` of ``frame``, which already mapped unseen levels to missing."""
        ranges = self.meta.get("numeric_ranges") or {}
        unseen: dict[str, list[int]] = {}
        outside: dict[str, list[int]] = {}
        for f in self.features:
            present = frame[f.name].notna().to_numpy()
            if f.dtype == "category":
                lost = present & prepared[f.name].isna().to_numpy()
                unseen[f.name] = [int(lost.sum()), int(present.sum())]
            elif f.name in ranges:
                lo, hi = ranges[f.name]
                v = prepared[f.name].to_numpy(dtype=float)
                with np.errstate(invalid="ignore"):
                    out = present & ((v < lo) | (v > hi))
                outside[f.name] = [int(out.sum()), int(present.sum())]
        return {"unseen_levels": unseen, "out_of_range": outside}

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns in training order and dtypes; unseen category levels become missing, as LightGBM expects."""
        missing = [f.name for f in self.features if f.name not in frame.columns]
        if missing:
            raise ModelError(
                f"model {self.meta.get('version', '?')} needs features the data does not produce: {', '.join(missing[:10])}"
                f"{' …' if len(missing) > 10 else ''}; score with data of the same tables and configuration, or retrain"
            )
        out = {}
        for f in self.features:
            col = frame[f.name]
            if f.dtype == "category":
                levels = list(f.categories or ())
                values = col.astype("str").where(col.notna())
                out[f.name] = pd.Categorical(values.where(values.isin(levels)), categories=levels)
            else:
                out[f.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        return pd.DataFrame(out, index=frame.index)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        if len(X) == 0:  # LightGBM refuses an empty frame; no customers, no scores
            return np.zeros(0, dtype=float)
        return np.asarray(self.booster.predict(X, num_iteration=self.booster.best_iteration or None))

    def predict_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """The model's raw output (log-odds, before calibration) for a prepared frame."""
        if len(X) == 0:
            return np.zeros(0, dtype=float)
        return np.asarray(self.booster.predict(X, raw_score=True, num_iteration=self.booster.best_iteration or None))

    def predict_codes(self, M: np.ndarray, raw_score: bool = False) -> np.ndarray:
        """:meth:`predict_raw` (or the log-odds, ``raw_score``) of a matrix in model column order whose categorical
        columns hold codes of this bundle's levels (NaN: missing): no frame is built, for the many predictions of
        mixed vectors (:func:`churnml.explain.causes.change_values`)."""
        if len(M) == 0:
            return np.zeros(0, dtype=float)
        M = np.array(M, dtype=float)  # a copy: the booster's codes go in place
        booster_levels: Iterator[list[Any]] = iter(self.booster.pandas_categorical or [])
        for j, f in enumerate(self.features):
            if f.dtype != "category":
                continue
            # LightGBM reads a category as its position among the levels it was trained on (pandas_categorical)
            position = {level: i for i, level in enumerate(next(booster_levels, []))}
            remap = np.array([position.get(level, np.nan) for level in (f.categories or ())] + [np.nan], dtype=float)
            codes = M[:, j]
            M[:, j] = remap[np.where(np.isnan(codes), len(remap) - 1, codes).astype(np.int64)]
        return np.asarray(self.booster.predict(M, raw_score=raw_score, num_iteration=self.booster.best_iteration or None))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probabilities for a feature frame."""
        return self.calibrator.transform(self.predict_raw(self.prepare(frame)))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions (log-odds), one column per feature plus the expected value last."""
        if len(X) == 0:
            return np.zeros((0, len(self.features) + 1), dtype=float)
        return np.asarray(self.booster.predict(X, pred_contrib=True, num_iteration=self.booster.best_iteration or None))

    # ---------------------------------------------------------------------------------------- persistence

    def to_files(self, key: bytes | None = None) -> tuple[str, str]:
        """The text of ``model.txt`` and ``bundle.json``; signed when a ``key`` is given."""
        model_text = self.booster.model_to_string(num_iteration=self.booster.best_iteration or None)
        meta = dict(self.meta)
        meta.update(
            format=BUNDLE_FORMAT,
            features=[f.to_dict() for f in self.features],
            calibrator=self.calibrator.to_dict(),
            model_sha256=sha256_text(model_text),
            attachments={name: sha256_text(text) for name, text in sorted(self.attachments.items())},
        )
        meta.pop("content_sha256", None)
        meta.pop("signature", None)
        body = json.dumps(meta, indent=2, sort_keys=True, default=str)
        meta["content_sha256"] = sha256_text(body)
        if key is not None:
            meta["signature"] = signature(key, meta["model_sha256"], meta["content_sha256"])
        return model_text, json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_files(
        cls,
        model_text: str,
        bundle_json: str,
        source: str = "bundle",
        *,
        key: bytes | None = None,
        probe: bool = True,
        attachments: dict[str, str] | None = None,
    ) -> ModelBundle:
        """Rebuild a bundle, refusing it if either file changed since it was written.

        With ``key``, the bundle must carry a valid signature made with it. ``probe`` parses the model text in a
        child process first (:func:`probe_model_texts`); leave it on for any file that came from outside.
        """
        try:
            meta = json.loads(bundle_json)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{source}/bundle.json is not valid JSON ({exc}); retrain or restore the bundle") from None
        if not isinstance(meta, dict):
            raise ModelError(f"{source}/bundle.json is JSON but not a bundle's metadata (an object); retrain or restore the bundle")
        signed = meta.pop("signature", None)
        if meta.get("format") != BUNDLE_FORMAT:
            raise ModelError(f"{source}: bundle format {meta.get('format')!r} is not supported (expected {BUNDLE_FORMAT})")
        claimed = meta.pop("content_sha256", None)
        body = json.dumps(meta, indent=2, sort_keys=True, default=str)
        if claimed != sha256_text(body):
            raise ModelError(f"{source}/bundle.json was modified after the bundle was written (checksum mismatch); retrain")
        if sha256_text(model_text) != meta.get("model_sha256"):
            raise ModelError(f"{source}/model.txt does not match the checksum in bundle.json; it was altered or corrupted; retrain")
        if key is not None:
            if not isinstance(signed, str):
                raise ModelError(f"{source}/bundle.json is not signed, and a signing key is configured; retrain with the key, or sign nothing")
            if not hmac.compare_digest(signed, signature(key, meta["model_sha256"], claimed)):
                raise ModelError(f"{source}/bundle.json carries a signature that the configured key did not make; the bundle was altered or signed with another key")
        listed = meta.get("attachments") or {}
        if not isinstance(listed, dict):
            raise ModelError(f"{source}/bundle.json: its attachments entry is malformed; retrain or restore the bundle")
        attachments = attachments or {}
        for name, digest in sorted(listed.items()):
            if name not in attachments:
                raise ModelError(f"{source}/{name} is missing; bundle.json lists it: restore the whole bundle folder or retrain")
            if sha256_text(attachments[name]) != digest:
                raise ModelError(f"{source}/{name} does not match the checksum in bundle.json; it was altered or corrupted; retrain")
        if probe:
            probe_model_texts({"model.txt": model_text, **{name: attachments[name] for name in sorted(listed)}}, source)
        try:
            booster = lgb.Booster(model_str=model_text)
        except lgb.basic.LightGBMError as exc:
            raise ModelError(f"{source}/model.txt is not a LightGBM model ({exc})") from None
        try:
            features = [FeatureInfo.from_dict(d) for d in meta.pop("features")]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{source}/bundle.json: its feature list is malformed ({exc!r}); retrain or restore the bundle") from None
        if booster.feature_name() != [f.name for f in features]:
            raise ModelError(f"{source}: model.txt and bundle.json list different features; the bundle is inconsistent")
        try:
            calibrator = Calibrator.from_dict(meta.pop("calibrator"))
            meta.pop("model_sha256")
            meta.pop("format")
            meta.pop("attachments", None)
            bundle = cls(booster, calibrator, features, meta, {name: attachments[name] for name in listed})
            bundle._self_check()
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, lgb.basic.LightGBMError) as exc:
            raise ModelError(
                f"{source}: model.txt and bundle.json do not make a usable model ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]}); retrain or restore the bundle"
            ) from None
        return bundle

    def _self_check(self) -> None:
        """Raise unless the metadata is well formed and two predictions come out as probabilities: a re-hashed
        edit of bundle.json (a calibrator without knots, a feature's type changed, a multiclass model) fails here,
        at load time, instead of in the middle of a night's scoring."""
        if not isinstance(self.meta.get("version"), str) or not self.meta["version"]:
            raise ValueError("the bundle has no version id")
        if self.booster.num_model_per_iteration() != 1:
            raise ValueError(f"the model has {self.booster.num_model_per_iteration()} outputs per row; a churn model has one")
        for name, pair in (self.meta.get("numeric_ranges") or {}).items():
            lo, hi = (float(v) for v in pair)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise ValueError(f"numeric_ranges[{name!r}] is not a finite [min, max]")
        if not isinstance(self.meta.get("typical_values", {}), dict):
            raise ValueError("typical_values is not a mapping")
        grid = np.linspace(0.0, 1.0, 201)
        with np.errstate(all="ignore"):
            mapped = np.asarray(self.calibrator.transform(grid), dtype=float)
        if mapped.shape != grid.shape or not np.all(np.isfinite(mapped)) or mapped.min() < 0 or mapped.max() > 1:
            raise ValueError("the calibrator maps some raw scores outside [0, 1]")
        if np.any(np.diff(mapped) < -1e-12):
            raise ValueError("the calibrator is not monotone: a higher raw score would get a lower probability")
        probe = pd.DataFrame(
            {f.name: ([f.categories[0]] * 2 if f.dtype == "category" and f.categories else [np.nan, 0.0]) for f in self.features}
        )
        p = self.predict(probe)
        if p.shape != (2,) or not np.all((p >= 0) & (p <= 1)):
            raise ValueError("the model and its calibrator do not give one probability per row")
        if self.contributions(self.prepare(probe)).shape != (2, len(self.features) + 1):
            raise ValueError("the model's contributions do not match its features")
