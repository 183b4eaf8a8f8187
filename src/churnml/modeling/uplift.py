"""Whom a remedy saves: the effect of each recorded action on the churn probability, learned from past actions.

A T-learner on LightGBM: one churn model of the customers left alone after a snapshot, one per recorded action of
the customers who got it within ``window_days``, each learned as a shift from a shared start (the churn model's
log-odds, or the first model's): two separate models would each err by more than the effect they are subtracted to
find. A customer's uplift for an action is the probability left alone minus with the action (> 0: the action
lowers the risk). Customers the nightly job held out as control and flagged
customers the CRM did not reach are among those left alone, so every action's model is compared with untreated
customers of the same features. Rows whose customer got a remedy in the ``washout_days`` before the snapshot are
left out: a remedy still working would count as being left alone.

The CRM's choice of whom to treat depends on what it saw of the risk: where that is more than the features show,
the learned effect is biased toward zero (treated customers were riskier than their features say). The ranking it
gives, not its level, is what flagging by uplift uses.

:class:`CauseUpliftModel` (the default, ``uplift.learner: cause``) asks less of the data: a remedy addresses a cause
family, so it can at most take away what healing that family would take off the customer's log-odds (the churn
model's own counterfactual, :func:`churnml.explain.causes.family_headroom`); it learns one share of that per action,
and one shift for the treated of each action (whom the CRM chose: riskier than their features say), two or three
numbers per action from thousands of treated rows, where the T-learner's trees also learn where the CRM's choice
made the treated riskier and read it as the remedy failing. On the treatment world (20,000 customers, 6 seeds)
flagging by its uplift saves between 2.5% fewer and 4.3% more customers than flagging by risk, by the T-learner's
14-26% fewer. What it cannot see is an effect that no cause family carries (contact that harms customers on a misfitting plan): there the
T-learner saves most (``benchmarks/uplift.py --world contact_backfires``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

NONE = ""  # no action within the window
CONTROL_FILE = "uplift_control.txt"


def action_file(action: str) -> str:
    """The bundle file of an action's model (actions are playbook codes: letters and underscores)."""
    return f"uplift_{action}.txt"


def treatment_of(snapshots: pd.DataFrame, actions: pd.DataFrame, window_days: int, washout_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per snapshot row (``snapshot_date``, ``customer_id``): the first action recorded in the ``window_days`` from
    the snapshot date ("" for none), and whether the row may be learned from (no action in the ``washout_days``
    before). ``actions`` is ``retention_actions`` (``customer_id``, ``timestamp``, ``action``)."""
    n = len(snapshots)
    action = np.full(n, NONE, dtype=object)
    keep = np.ones(n, dtype=bool)
    if n == 0 or actions is None or actions.empty:
        return action, keep
    rows = pd.DataFrame({"row": np.arange(n), "customer_id": snapshots["customer_id"].astype(str).to_numpy(),
                         "day": pd.to_datetime(snapshots["snapshot_date"]).to_numpy()})
    acts = pd.DataFrame({"customer_id": actions["customer_id"].astype(str).to_numpy(),
                         "at": pd.to_datetime(actions["timestamp"]).to_numpy(), "action": actions["action"].astype(str).to_numpy()})
    pairs = rows.merge(acts, on="customer_id", how="inner")
    lag = (pairs["at"] - pairs["day"]).to_numpy()
    window, washout = np.timedelta64(window_days, "D"), np.timedelta64(washout_days, "D")
    inside = pairs[(lag >= np.timedelta64(0, "D")) & (lag < window)].sort_values(["row", "at"], kind="stable")
    first = inside.drop_duplicates("row")
    action[first["row"].to_numpy()] = first["action"].to_numpy()
    before = pairs[(lag < np.timedelta64(0, "D")) & (lag >= -washout)]
    keep[before["row"].unique()] = False
    return action, keep


class UpliftModel:
    """Per action, how much it lowers a customer's churn probability (T-learner on LightGBM).

    Hyperparameters in ``__init__``; :meth:`fit` learns ``control_`` (churn of the untreated), ``models_`` (one per
    action with at least ``min_treated`` treated rows) and ``actions_``."""

    needs_headroom = False
    learner = "t_learner"

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.05, num_leaves: int = 15, min_child_samples: int = 50,
                 shift_estimators: int = 100, shift_leaves: int = 7, shift_min_child_samples: int = 100,
                 min_treated: int = 200, seed: int = 0, num_threads: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.shift_estimators = shift_estimators
        self.shift_leaves = shift_leaves
        self.shift_min_child_samples = shift_min_child_samples
        self.min_treated = min_treated
        self.seed = seed
        self.num_threads = num_threads

    def _params(self) -> dict[str, Any]:
        return {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "seed": self.seed, "deterministic": True,
                "num_threads": self.num_threads, "verbosity": -1}

    def _booster(self, X: pd.DataFrame, y: np.ndarray) -> lgb.Booster:
        return lgb.train(self._params(), lgb.Dataset(X, np.asarray(y, dtype=float)), num_boost_round=self.n_estimators)

    def _shift(self, X: pd.DataFrame, y: np.ndarray, start: np.ndarray) -> lgb.Booster:
        params = {**self._params(), "num_leaves": self.shift_leaves, "min_child_samples": self.shift_min_child_samples}
        return lgb.train(params, lgb.Dataset(X, np.asarray(y, dtype=float), init_score=start), num_boost_round=self.shift_estimators)

    def fit(self, X: pd.DataFrame, action: np.ndarray, y: np.ndarray, base: np.ndarray | None = None) -> UpliftModel:
        """``X``: prepared features; ``action``: each row's action ("" none); ``y``: churned within the horizon;
        ``base``: the churn model's log-odds of the rows, where the uplift is to start from it (both arms then learn
        only their shift from it: the churn model ranks risk better than a model of the few left alone among the
        riskiest). ``ValueError`` when no action has ``min_treated`` rows or no row was left alone."""
        action = np.asarray(action, dtype=object)
        y = np.asarray(y, dtype=float)
        alone, self.actions_, counts = _learnable(action, self.min_treated)
        self.uses_base_ = base is not None
        if base is None:
            self.control_ = self._booster(X[alone], y[alone])
            start = self.control_.predict(X, raw_score=True)
        else:
            start = np.asarray(base, dtype=float)
            self.control_ = self._shift(X[alone], y[alone], start[alone])
        # Each action's model starts from the same log-odds and learns only the shift the action makes: two separate
        # models would each err by more than the effect they are subtracted to find.
        self.models_ = {a: self._shift(X[action == a], y[action == a], start[action == a]) for a in self.actions_}
        self.treated_ = {a: int(counts[a]) for a in self.actions_}
        return self

    def predict(self, X: pd.DataFrame, base: np.ndarray | None = None, headroom: np.ndarray | None = None) -> pd.DataFrame:
        """Each action's uplift per row (probability of churn left alone minus with the action), columns by action;
        ``base``: the churn model's log-odds, needed when it was fitted with one (``headroom`` is not used)."""
        if len(X) == 0:
            return pd.DataFrame({a: np.zeros(0) for a in self.actions_})
        if self.uses_base_ and base is None:
            raise ValueError("this uplift model starts from the churn model's log-odds: pass them as base")
        if self.uses_base_:
            start = np.asarray(base, dtype=float)
            alone = _sigmoid(start + self.control_.predict(X, raw_score=True))
        else:
            start = np.asarray(self.control_.predict(X, raw_score=True), dtype=float)
            alone = _sigmoid(start)
        return pd.DataFrame({a: alone - _sigmoid(start + self.models_[a].predict(X, raw_score=True)) for a in self.actions_},
                            index=X.index)

    def best(self, X: pd.DataFrame, base: np.ndarray | None = None, headroom: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The action with the largest uplift per row, and that uplift."""
        return _best(self.predict(X, base), self.actions_)

    # ------------------------------------------------------------------------------------------ persistence

    def metrics(self) -> dict[str, Any]:
        """What the training run logs of the model (MLflow metrics): treated rows per action."""
        return {"treated": dict(self.treated_)}

    def to_files(self) -> tuple[dict[str, Any], dict[str, str]]:
        """What a bundle keeps of the model: metadata for ``bundle.json`` and each booster's native LightGBM text by
        file name (verified, probed and signed with the bundle; no pickle)."""
        meta = {"learner": self.learner, "params": dict(self.get_params()), "actions": list(self.actions_), "uses_base": self.uses_base_,
                "treated": dict(self.treated_)}
        texts = {CONTROL_FILE: self.control_.model_to_string(), **{action_file(a): m.model_to_string() for a, m in self.models_.items()}}
        return meta, texts

    @classmethod
    def from_files(cls, meta: Mapping[str, Any], texts: Mapping[str, str]) -> UpliftModel:
        """The model :meth:`to_files` wrote; ``ValueError`` when a file is missing or the metadata is malformed."""
        model = cls(**dict(meta["params"]))
        model.actions_ = [str(a) for a in meta["actions"]]
        model.uses_base_ = bool(meta["uses_base"])
        model.treated_ = {str(a): int(n) for a, n in dict(meta["treated"]).items()}
        missing = [name for name in (CONTROL_FILE, *map(action_file, model.actions_)) if name not in texts]
        if missing:
            raise ValueError(f"the uplift model's {', '.join(missing)} is missing")
        model.control_ = lgb.Booster(model_str=texts[CONTROL_FILE])
        model.models_ = {a: lgb.Booster(model_str=texts[action_file(a)]) for a in model.actions_}
        return model

    def get_params(self) -> Mapping[str, Any]:
        return {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples", "shift_estimators",
                                               "shift_leaves", "shift_min_child_samples", "min_treated", "seed", "num_threads")}


class CauseUpliftModel:
    """Per action, the share of its cause family's risk it takes away (:func:`churnml.explain.causes.family_headroom`).

    A treated row's log-odds are modelled as the churn model's, plus the shift of those left alone, plus a shift of
    the action's treated (``bias_``: whom the CRM chose), minus ``theta_`` times what healing the action's family
    would take off them; both fitted by logistic regression with the churn model's log-odds as offset. An action
    for a family other than price or service (onboarding care, a dedicated contact) has no headroom to scale: its
    effect is one shift of the log-odds (with whom the CRM chose in it). The shares of the family actions are
    pooled as far as their spread is noise (empirical Bayes), then floored at 0: a remedy the rows do not show to
    help is not chosen. Hyperparameters in ``__init__``; :meth:`fit` learns ``actions_``, ``theta_`` (as used),
    ``raw_theta_`` (each action's own estimate), ``theta_se_``, ``bias_``, ``alone_bias_`` and ``treated_``."""

    needs_headroom = True
    learner = "cause"

    def __init__(self, min_treated: int = 200, ridge: float = 1e-6, max_iter: int = 50):
        self.min_treated = min_treated
        self.ridge = ridge
        self.max_iter = max_iter

    def _fit(self, Z: np.ndarray, y: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logistic regression with an offset (Newton's method): coefficients and their standard errors."""
        w = np.zeros(Z.shape[1])
        H = np.eye(Z.shape[1])
        for _ in range(self.max_iter):
            mu = _sigmoid(offset + Z @ w)
            H = Z.T @ (Z * (mu * (1.0 - mu))[:, None]) + self.ridge * len(y) * np.eye(Z.shape[1])
            step = np.linalg.solve(H, Z.T @ (y - mu) - self.ridge * len(y) * w)
            w = w + step
            if np.abs(step).max() < 1e-10:
                break
        return w, np.sqrt(np.diag(np.linalg.inv(H)))

    def fit(self, headroom: np.ndarray, action: np.ndarray, y: np.ndarray, base: np.ndarray,
            families: Mapping[str, str]) -> CauseUpliftModel:
        """``headroom``: per row, what healing price and service takes off the log-odds (two columns); ``action``:
        each row's action ("" none); ``y``: churned within the horizon; ``base``: the churn model's log-odds;
        ``families``: the family each action addresses. ``ValueError`` when no action has ``min_treated`` rows or
        fewer rows were left alone."""
        action = np.asarray(action, dtype=object)
        y = np.asarray(y, dtype=float)
        base = np.asarray(base, dtype=float)
        headroom = np.asarray(headroom, dtype=float).reshape(len(y), 2)
        alone, self.actions_, counts = _learnable(action, self.min_treated)
        (self.alone_bias_,), _ = self._fit(np.ones((int(alone.sum()), 1)), y[alone], base[alone])
        self.families_ = {a: str(families.get(a, "other")) for a in self.actions_}
        self.theta_, self.theta_se_, self.bias_ = {}, {}, {}
        for a in self.actions_:
            rows = action == a
            g = _scaled(headroom[rows], self.families_[a])
            offset = base[rows] + self.alone_bias_
            if self.families_[a] in _FAMILY_COLUMN:
                (bias, theta), (_, se) = self._fit(np.column_stack([np.ones(int(rows.sum())), -g]), y[rows], offset)
            else:  # one shift: the effect and whom the CRM chose cannot be told apart
                bias, ((theta,), (se,)) = 0.0, self._fit(-g[:, None], y[rows], offset)
            self.theta_[a], self.theta_se_[a], self.bias_[a] = float(theta), float(se), float(bias)
        self.raw_theta_ = dict(self.theta_)
        self._pool([a for a in self.actions_ if self.families_[a] in _FAMILY_COLUMN])
        self.theta_ = {a: max(t, 0.0) for a, t in self.theta_.items()}
        self.treated_ = {a: int(counts[a]) for a in self.actions_}
        return self

    def _pool(self, actions: list[str]) -> None:
        """Shrink the shares of the actions that scale a family's headroom toward their precision-weighted mean, as
        far as their spread is noise (empirical Bayes): which action a customer gets turns on their ratio, and one
        estimated from a few thousand rows would otherwise pick a remedy by chance."""
        if len(actions) < 2:
            return
        t = np.array([self.theta_[a] for a in actions])
        v = np.array([self.theta_se_[a] for a in actions]) ** 2
        mean = float(np.sum(t / v) / np.sum(1 / v))
        spread = max(float(np.sum((t - mean) ** 2) / (len(t) - 1) - np.mean(v)), 0.0)  # the variance beyond the noise
        for a, ta, va in zip(actions, t, v, strict=True):
            keep = spread / (spread + va)
            self.theta_[a] = float(keep * ta + (1 - keep) * mean)

    def predict(self, X: pd.DataFrame | None, base: np.ndarray | None = None, headroom: np.ndarray | None = None) -> pd.DataFrame:
        """Each action's uplift per row (probability of churn left alone minus with the action), columns by action;
        ``base`` the churn model's log-odds and ``headroom`` :func:`~churnml.explain.causes.family_headroom` of the
        rows (``X`` only gives the index)."""
        if base is None or headroom is None:
            raise ValueError("this uplift model scales the cause families' headroom: pass the churn model's log-odds as base and the headroom")
        start = np.asarray(base, dtype=float) + self.alone_bias_
        headroom = np.asarray(headroom, dtype=float).reshape(len(start), 2)
        alone = _sigmoid(start)
        index = X.index if X is not None else None
        return pd.DataFrame({a: alone - _sigmoid(start - self.theta_[a] * _scaled(headroom, self.families_[a])) for a in self.actions_},
                            index=index)

    def best(self, X: pd.DataFrame | None, base: np.ndarray | None = None, headroom: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The action with the largest uplift per row, and that uplift."""
        return _best(self.predict(X, base, headroom), self.actions_)

    def metrics(self) -> dict[str, Any]:
        """What the training run logs of the model (MLflow metrics): treated rows, each action's share of its cause
        as used, as estimated alone, and its standard error."""
        return {"treated": dict(self.treated_), "share": dict(self.theta_), "share_raw": dict(self.raw_theta_),
                "share_se": dict(self.theta_se_)}

    def to_files(self) -> tuple[dict[str, Any], dict[str, str]]:
        """What a bundle keeps of the model: its few numbers, for ``bundle.json``; no model files."""
        meta = {"learner": self.learner, "params": dict(self.get_params()), "actions": list(self.actions_),
                "families": dict(self.families_), "theta": dict(self.theta_), "raw_theta": dict(self.raw_theta_),
                "theta_se": dict(self.theta_se_),
                "bias": dict(self.bias_), "alone_bias": float(self.alone_bias_), "treated": dict(self.treated_)}
        return meta, {}

    @classmethod
    def from_files(cls, meta: Mapping[str, Any], texts: Mapping[str, str]) -> CauseUpliftModel:
        """The model :meth:`to_files` wrote; ``ValueError`` (or ``KeyError``, ``TypeError``) when malformed."""
        model = cls(**dict(meta["params"]))
        model.actions_ = [str(a) for a in meta["actions"]]
        model.families_ = {str(a): str(f) for a, f in dict(meta["families"]).items()}
        model.theta_ = {a: float(dict(meta["theta"])[a]) for a in model.actions_}
        model.theta_se_ = {a: float(dict(meta["theta_se"])[a]) for a in model.actions_}
        model.raw_theta_ = {a: float(dict(meta.get("raw_theta") or meta["theta"])[a]) for a in model.actions_}
        model.bias_ = {a: float(dict(meta["bias"])[a]) for a in model.actions_}
        model.alone_bias_ = float(meta["alone_bias"])
        model.treated_ = {str(a): int(n) for a, n in dict(meta["treated"]).items()}
        bad = [a for a in model.actions_ if not np.isfinite(model.theta_[a]) or model.theta_[a] < 0 or a not in model.families_]
        if bad or not np.isfinite(model.alone_bias_):
            raise ValueError(f"the uplift model's numbers for {', '.join(bad) or 'those left alone'} are not valid")
        return model

    def get_params(self) -> Mapping[str, Any]:
        return {k: getattr(self, k) for k in ("min_treated", "ridge", "max_iter")}


_FAMILY_COLUMN = {"price": 0, "service": 1}


def _learnable(action: np.ndarray, min_treated: int) -> tuple[np.ndarray, list[str], pd.Series]:
    """The rows left alone, the actions with at least ``min_treated`` rows (sorted) and every action's row count;
    ``ValueError`` when no action, or too few rows left alone, reach it."""
    alone = action == NONE
    counts = pd.Series(action[~alone]).value_counts()
    actions = sorted(str(a) for a, n in counts.items() if n >= min_treated)
    if not actions or alone.sum() < min_treated:
        raise ValueError(f"too few treated or untreated rows to learn an effect: {counts.to_dict()} treated, "
                         f"{int(alone.sum())} left alone; at least {min_treated} of each are needed")
    return alone, actions, counts


def _scaled(headroom: np.ndarray, family: str) -> np.ndarray:
    """The headroom an action of ``family`` scales: its family's column, or 1 (one shift of the log-odds)."""
    j = _FAMILY_COLUMN.get(family)
    return headroom[:, j] if j is not None else np.ones(len(headroom))


def _best(u: pd.DataFrame, actions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    values = u.to_numpy()
    pick = np.argmax(values, axis=1) if len(u) else np.zeros(0, dtype=np.int64)
    return np.asarray(actions, dtype=object)[pick], values[np.arange(len(u)), pick]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


# ---------------------------------------------------------------------------------------------------- in the bundle


def learn_uplift(snapshots: pd.DataFrame, actions: pd.DataFrame, bundle: Any, window_days: int, washout_days: int,
                 min_treated: int, seed: int = 0, num_threads: int = 0,
                 headroom: Callable[[pd.DataFrame, np.ndarray], np.ndarray] | None = None,
                 ) -> tuple[UpliftModel | CauseUpliftModel, dict[str, float]]:
    """The uplift model of a churn model's training snapshots (``label`` the outcome) and the ``retention_actions``
    known at its as-of, started from the churn model's log-odds; and each learned action's mean recorded cost (0
    where none was recorded). With ``headroom`` (the snapshots' prepared features and log-odds to
    :func:`churnml.explain.causes.family_headroom` of them) a :class:`CauseUpliftModel`, else the T-learner. ``ValueError`` when too few rows were treated or left alone.
    Win-back remedies (for customers who had left) are not among the actions."""
    from churnml.remedies import REMEDY_FAMILY, Action

    actions = actions[actions["action"].astype(str).isin([a.value for a in Action if a is not Action.NONE])]
    action, keep = treatment_of(snapshots, actions, window_days, washout_days)
    X = bundle.prepare(snapshots[bundle.feature_names])
    start = bundle.predict_log_odds(X)
    y = snapshots["label"].to_numpy()
    model: UpliftModel | CauseUpliftModel
    if headroom is None:
        model = UpliftModel(min_treated=min_treated, seed=seed, num_threads=num_threads).fit(X[keep], action[keep], y[keep], start[keep])
    else:
        model = CauseUpliftModel(min_treated=min_treated).fit(headroom(X, start)[keep], action[keep], y[keep], start[keep], REMEDY_FAMILY)
    costs = pd.to_numeric(actions.get("cost", pd.Series(dtype=float)), errors="coerce") if len(actions) else pd.Series(dtype=float)
    mean_cost = costs.groupby(actions["action"].astype(str).to_numpy()).mean() if len(actions) else pd.Series(dtype=float)
    return model, {a: float(mean_cost.get(a, 0.0)) if pd.notna(mean_cost.get(a, np.nan)) else 0.0 for a in model.actions_}


def attach_uplift(bundle: Any, model: UpliftModel | CauseUpliftModel, costs: Mapping[str, float]) -> None:
    """Keep the uplift model in the churn model's bundle: each booster (of a T-learner) as a native text file beside
    ``model.txt``, the rest (and the actions' mean recorded costs) in ``bundle.json``, verified and signed with the
    bundle."""
    meta, texts = model.to_files()
    bundle.attachments.update(texts)
    bundle.meta["uplift"] = {**meta, "costs": {a: float(c) for a, c in costs.items()}}


def uplift_model(bundle: Any, source: str = "bundle") -> tuple[UpliftModel | CauseUpliftModel, dict[str, float]]:
    """The uplift model kept in ``bundle`` and the actions' costs; :class:`~churnml.errors.ModelError` when it has
    none (trained without recorded actions) or it is unusable."""
    from churnml.errors import ModelError

    info = bundle.meta.get("uplift") or {}
    if not isinstance(info, dict) or "actions" not in info:
        why = info.get("not_trained", "it was trained before uplift existed") if isinstance(info, dict) else "malformed entry"
        raise ModelError(f"{source}: model {bundle.version} has no uplift model ({why}); record retention_actions and retrain, "
                         "or set flagging.strategy: risk")
    model: UpliftModel | CauseUpliftModel
    try:
        learner = info.get("learner", UpliftModel.learner)  # bundles of the first version kept only T-learners
        if learner == CauseUpliftModel.learner:
            model = CauseUpliftModel.from_files(info, bundle.attachments)
        elif learner == UpliftModel.learner:
            model = UpliftModel.from_files(info, bundle.attachments)
            names = bundle.feature_names
            for booster in (model.control_, *model.models_.values()):
                if booster.feature_name() != names:
                    raise ValueError("an uplift model lists other features than the churn model")
        else:
            raise ValueError(f"unknown learner {learner!r}")
    except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
        raise ModelError(f"{source}: the uplift model of {bundle.version} is unusable ({exc}); retrain or restore the bundle") from None
    return model, {str(a): float(c) for a, c in dict(info.get("costs") or {}).items()}
