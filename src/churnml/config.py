"""Typed configuration for the whole pipeline.

The CLI loads one :class:`ChurnConfig` from YAML and passes it down; nothing deeper reads files, globals or
environment variables. Unknown keys and wrong types are refused with the key path and the expected type.
"""

from __future__ import annotations

import reprlib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from churnml.errors import ConfigError
from churnml.remedies import Action, WinbackAction


class Family(StrEnum):
    """Cause family of a feature: what kind of remedy its risk calls for."""

    PRICE = "price"
    SERVICE = "service"
    OTHER = "other"


def _takes_bool(annotation: Any) -> bool:
    return annotation is bool or any(_takes_bool(a) for a in get_args(annotation))


def _takes_number(annotation: Any) -> bool:
    return annotation in (int, float) or any(_takes_number(a) for a in get_args(annotation))


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, bool) for v in value.values())
    return False


class _Model(BaseModel):
    # NaN and infinity pass numeric bounds unnoticed (a NaN success rate makes every expected value NaN).
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic reads YAML's true as 1; a switch written where a number belongs is a mistake to name.
        annotation = cls.model_fields[info.field_name].annotation if info.field_name else None
        if _has_bool(value) and _takes_number(annotation) and not _takes_bool(annotation):
            raise ValueError("a number is needed, not true/false")
        return value


class LabelConfig(_Model):
    """How churn is defined (contract section 1)."""

    horizon_days: int = Field(60, gt=0, le=3650, description="H: a label is 1 if the churn date falls in (T, T + H].")
    grace_days: int = Field(30, ge=0, le=3650, description="G: a return within G days of an end date is not churn.")
    new_customer_days: int = Field(90, gt=0, le=36500, description="A current run younger than this is lifecycle stage `new`.")


class FeatureConfig(_Model):
    """Windows and thresholds of the feature builders."""

    windows_days: list[int] = Field([30, 90, 180], min_length=1, description="Look-back windows for event counts.")
    long_wait_minutes: float = Field(20.0, gt=0, description="A wait longer than this counts as a long wait.")
    repeat_contact_days: int = Field(7, gt=0, le=3650, description="A contact within this many days of the previous one is a repeat.")
    trend_recent_days: int = Field(30, gt=0, le=3650, description="Recent window of the contact trend.")
    trend_baseline_days: int = Field(60, gt=0, le=3650, description="Baseline window (just before the recent one) of the trend.")
    short_notice_days: int = Field(30, ge=0, le=3650, description="A price rise announced fewer days ahead counts as short notice.")
    usage_months: int = Field(3, gt=0, le=120, description="Completed months that utilisation features average over.")
    incident_min_customers: int = Field(
        20, gt=1, le=10**9, description="A fault whose incident_id is shared by at least this many customers is a shared incident."
    )
    survey_window_days: int = Field(365, gt=0, le=36500, description="Surveys older than this are ignored.")
    new_price_reference_days: int = Field(
        365, gt=0, le=36500, description="What new customers pay: median price of periods on the plan started this recently."
    )

    @field_validator("windows_days")
    @classmethod
    def _positive_sorted(cls, v: list[int]) -> list[int]:
        if any(w <= 0 or w > 36500 for w in v):
            raise ValueError("every window must be a number of days between 1 and 36500")
        return sorted(set(v))


class SnapshotConfig(_Model):
    """Which as-of dates become training snapshots."""

    frequency: str = Field("MS", description="pandas offset alias of the snapshot dates (MS = first of each month).")
    max_snapshots: int = Field(12, gt=0, le=10_000, description="Most recent fully labelled snapshots to keep.")
    validation_snapshots: int = Field(1, gt=0, le=10_000, description="Latest snapshots held out for out-of-time validation.")

    @field_validator("frequency")
    @classmethod
    def _offset_alias(cls, v: str) -> str:
        import pandas as pd

        try:
            offset = pd.tseries.frequencies.to_offset(v)
        except (ValueError, TypeError):
            raise ValueError(f"{v!r} is not a pandas offset alias; use e.g. MS (month starts), W-MON or 2MS") from None
        if pd.Timestamp("2024-01-01") + offset <= pd.Timestamp("2024-01-01"):
            raise ValueError(f"{v!r} does not move forward in time")
        if pd.Timestamp("2024-01-01") + offset < pd.Timestamp("2024-01-02"):
            # `ms` is milliseconds, an easy slip for `MS`: snapshots are dates, at most one a day.
            raise ValueError(f"{v!r} is shorter than a day (did you mean MS, month starts?); snapshots are dates")
        return v

class ModelConfig(_Model):
    """LightGBM hyperparameters and training controls."""

    seed: int = Field(42, ge=0, le=2**31 - 1)
    # Churn labels are few and noisy (a few hundred leavers per snapshot): small, regularised trees on half the
    # features each generalise out of time better than LightGBM's defaults, on generated data and on Telco alike.
    learning_rate: float = Field(0.03, gt=0, le=1)
    num_leaves: int = Field(15, ge=2, le=131_072)
    min_child_samples: int = Field(100, ge=1, le=2**31 - 1)
    feature_fraction: float = Field(0.5, gt=0, le=1)
    bagging_fraction: float = Field(0.9, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0, le=10**6)
    lambda_l2: float = Field(10.0, ge=0, allow_inf_nan=False)
    max_rounds: int = Field(2000, gt=0, le=10**6)
    early_stopping_rounds: int = Field(100, gt=0, le=10**6)
    early_stopping_min_gain: float = Field(
        0.001,
        ge=0,
        lt=1,
        description="Stop when `early_stopping_rounds` rounds lower the tuning log loss by less than this share of the "
        "no-skill log loss (predicting the base rate): on large tables the last hundreds of trees gain a few millionths "
        "and cost prediction and explanation time.",
    )
    class_weight: Literal["balanced"] | None = Field(None, description="None, or `balanced` to reweight classes (never oversample).")
    num_threads: int = Field(0, ge=0, le=4096, description="0 = all cores.")
    calibration: str = Field(
        "auto",
        pattern="^(auto|isotonic|sigmoid)$",
        description="`auto` keeps whichever of no map, sigmoid or isotonic has the lowest 5-fold log loss on the "
        "tuning predictions.",
    )
    calibration_level: Literal["history", "tune"] = Field(
        "history",
        description="Where the level of the probabilities comes from: `history` matches the mean churn rate of every "
        "snapshot before validation (months of them, so one unusual tuning month does not shift every "
        "probability), `tune` keeps the tuning snapshot's own level.",
    )
    holdout_fraction: float = Field(
        0.25, gt=0, lt=1, description="Single-snapshot data only: share of customers held out (stratified)."
    )


class TierConfig(_Model):
    """Probability thresholds of the risk tiers."""

    high: float = Field(0.30, gt=0, le=1)
    medium: float = Field(0.10, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.medium > self.high:
            raise ValueError(f"tiers.medium ({self.medium}) must not exceed tiers.high ({self.high})")
        return self


class FlaggingConfig(_Model):
    """Who is selected for action: the top fraction by risk, or everyone above a probability."""

    top_fraction: float | None = Field(0.10, gt=0, le=1)
    probability_threshold: float | None = Field(None, gt=0, le=1)
    tiers: TierConfig = TierConfig()
    control_fraction: float = Field(
        0.05, ge=0, lt=1,
        description="Share of the flagged customers held out as a control group each run (`control_group` true in the scores file: "
        "measure, do not treat), so that what the remedies save can be measured; 0 turns it off.",
    )
    control_hold_days: int | None = Field(
        None, ge=0, le=3660,
        description="Days a customer drawn into the control group stays held out (flagged again within them, still control): the "
        "horizon in which `outcomes` measures them; unset: labels.horizon_days.",
    )
    strategy: Literal["risk", "uplift", "value"] = Field(
        "risk",
        description="Who is flagged, as many as the rule above flags by risk: `risk` the likeliest to leave; `uplift` those the "
        "best recorded action saves most (needs a model trained with retention_actions); `value` the largest uplift x monthly "
        "margin x expected months - the action's cost (`uplift` section). With uplift or value the flagged get that action.",
    )
    control_key: str = Field(
        "churnml-control", min_length=1,
        description="Key of the hash that draws the control group from the customer id and the run date: the same customer and date "
        "always land on the same side; another key draws another group.",
    )

    @model_validator(mode="after")
    def _one_policy(self) -> FlaggingConfig:
        if (self.top_fraction is None) == (self.probability_threshold is None):
            raise ValueError("set exactly one of flagging.top_fraction and flagging.probability_threshold")
        return self


class CauseConfig(_Model):
    """How a customer's risk splits into price, service and other, measured against the healthy reference."""

    method: Literal["shapley", "alone", "removal"] = Field(
        "shapley",
        description="How each family's part is read from the 8 predictions with the families at the customer's "
        "values or at the reference: `shapley` averages over every order of adding them; `alone` is what the "
        "family adds to a customer with no other pain; `removal` is what fixing only that family would take away.",
    )

    healed_risk_weight: float = Field(
        0.25, ge=0, le=1, description="How much of the risk a customer would keep with every pain (price, service and "
        "other) healed counts toward `other`. Below 1 because a tree model credits part of a pain's risk to who the customer "
        "is (won back, tenure, payment method), which stays when the pain is healed: measured on the simulated worlds, "
        "that healed risk is 1.6 to 2.7 times the true pain-free risk of flagged customers. 1 counts all of it.",
    )
    min_share: float = Field(
        0.35, ge=0, le=1, description="Price or service becomes the cause only if it is the largest part and carries this share of "
        "the parts (the rest: other)."
    )
    plan_mismatch_share: float = Field(
        0.5, ge=0, le=1, description="Price cause becomes `plan_review` when plan-mismatch features carry this share of its "
        "contributions."
    )
    incident_share: float = Field(
        0.5, ge=0, le=1, description="Service cause becomes `incident_update` when shared-incident features carry this share."
    )


class ValueRuleConfig(_Model):
    """Optional check that an action is worth its cost: p x monthly price x months x success rate - cost."""

    enabled: bool = False
    expected_months: float = Field(12.0, gt=0)
    success_rate: dict[Action, float] = Field(default_factory=dict)
    cost: dict[Action, float] = Field(default_factory=dict)
    fallback: Action = Action.NONE


class PlaybookConfig(_Model):
    """Remedy for each cause and lifecycle stage (domain: different causes need different treatments)."""

    price: Action = Action.RETENTION_OFFER
    price_plan_mismatch: Action = Action.PLAN_REVIEW
    service: Action = Action.SENIOR_MANAGER_CALL
    service_incident: Action = Action.INCIDENT_UPDATE
    other: Action = Action.SENIOR_MANAGER_CALL
    new: Action = Action.ONBOARDING_CARE
    won_back: Action = Action.DEDICATED_CONTACT
    value_rule: ValueRuleConfig = ValueRuleConfig()


class TrackingConfig(_Model):
    """MLflow tracking: a local SQLite store inside the project unless a URI is given."""

    tracking_uri: str | None = Field(None, description="None = sqlite:///mlflow.db in the working directory.")
    artifact_location: str | None = Field(None, description="None = ./mlartifacts.")
    experiment: str = "churnml"
    registered_model: str = Field("churnml-churn", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", description="Registry name: letters, digits, _ . - (a / @ or : would break models:/NAME@ALIAS).")
    enabled: bool = True


class ScoringConfig(_Model):
    """The nightly job."""

    chunk_customers: int = Field(200_000, gt=0, le=10**9, description="Customers scored per chunk: memory follows this, not the population.")
    reasons: int = Field(3, ge=0, le=3)
    max_unseen_level_share: float = Field(
        0.5, ge=0, le=1,
        description="Refuse to score (exit 6) when, averaged over the model's categorical features, more than this "
        "share of customers' values are levels the model never saw in training: a model trained on another "
        "portfolio. 0 refuses any unseen level; 1 never refuses. Any "
        "feature above 5% is named in a warning.",
    )


class ReferralConfig(_Model):
    """Satisfied customers are an asset: low-risk customers whose latest survey was enthusiastic are marked as
    referral candidates (extra `referral_candidate` column of the scores file)."""

    enabled: bool = True
    min_survey_score: float = Field(
        9, ge=0, le=10, description="Latest survey score (0-10, within features.survey_window_days) at least this."
    )
    risk_tiers: list[Literal["low", "medium", "high"]] = Field(
        default_factory=lambda: list[Literal["low", "medium", "high"]](["low"]), description="Risk tiers a candidate may be in; flagged customers never are."
    )


class ValidationConfig(_Model):
    """How much of a table may be rejected row by row before the table itself is refused."""

    max_reject_share: float = Field(
        0.2, ge=0, le=1,
        description="A table with a larger share of rejected rows stops the run (exit 4): a broken export, not a few "
        "bad rows, and scoring on what is left would quietly change every customer's features.",
    )


class SigningConfig(_Model):
    """HMAC-SHA256 signing of model bundles. With a key, `train` signs what it writes and every command that loads
    a bundle refuses one without a valid signature made with the same key."""

    key_env: str | None = Field(
        None, description="Name of the environment variable that holds the key (read once by the command line)."
    )
    key_file: Path | None = Field(None, description="File whose bytes are the key (keep it readable only by the job).")


class WinbackConfig(_Model):
    """Churned customers worth winning back: who is listed, the return model's label, and the value gate.

    Expected value = return probability x expected months x monthly margin - cost, with cost = cost_multiple x
    acquisition_cost (domain: winning a customer back costs about twice as much as acquiring one). Money is in the
    currency of `monthly_price`.
    """

    min_days: int = Field(30, ge=0, le=3650, description="List customers whose churn date lies at least this many days before T (at least labels.grace_days, so the churn is confirmed).")
    max_days: int = Field(60, ge=1, le=3650, description="... and at most this many days before T.")
    return_window_days: int = Field(180, gt=0, le=3650, description="Return label: a new period starts within this many days of the churn date.")
    acquisition_cost: float = Field(20.0, ge=0, le=1e9, description="What acquiring a new customer costs.")
    cost_multiple: float = Field(2.0, ge=0, le=1000, description="Cost of a win-back attempt in acquisition costs.")
    margin_share: float = Field(0.4, gt=0, le=1, description="Monthly margin as a share of the customer's monthly price at churn.")
    horizon_months: float = Field(24.0, gt=0, le=600, description="Expected months are the survival curve's area up to this horizon (restricted mean).")
    min_expected_value: float = Field(0.0, ge=-1e9, le=1e9, description="An action needs an expected value above this.")
    price: WinbackAction = WinbackAction.OFFER
    service: WinbackAction = WinbackAction.SERVICE_CALL
    other: WinbackAction = Field(WinbackAction.OFFER, description="`other` causes get this action when the value rule allows.")
    max_snapshots: int = Field(18, gt=0, le=10_000, description="Most recent monthly snapshots of earlier churners the return model learns from (older history is often only the customers who came back).")
    min_training_rows: int = Field(200, ge=10, le=10**9, description="Fewer earlier churners with a known outcome: no return model is trained.")

    @model_validator(mode="after")
    def _window(self) -> WinbackConfig:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) must not exceed max_days ({self.max_days})")
        if self.return_window_days <= self.max_days:
            raise ValueError(f"return_window_days ({self.return_window_days}) must exceed max_days ({self.max_days}): a listed customer needs time left to return")
        return self


class UpliftConfig(_Model):
    """Learning whom each remedy saves from the recorded `retention_actions`, and what saving a customer is worth."""

    learn: bool = Field(True, description="`train` learns each recorded action's effect when `retention_actions` holds enough treated "
                        "customers (by `learner`, kept in the bundle); `flagging.strategy` uplift and value need it.")
    learner: Literal["cause", "t_learner"] = Field(
        "cause", description="`cause`: each action takes a learned share of what healing its cause family would take off the churn "
        "model's log-odds (a few numbers per action, kept in bundle.json); `t_learner`: a LightGBM model per action and one of those "
        "left alone, each a shift from the churn model (sees effects no cause family carries, but reads whom the CRM chose as "
        "an effect: benchmarks/uplift.py).")
    shadow: bool = Field(True, description="With `flagging.strategy: risk` and a bundle that holds an uplift model, the scores still carry "
                         "each customer's `expected_uplift` (shown, not used to flag), so `churnml outcomes` measures how ranking by it would "
                         "have done before you switch; false saves computing it.")
    min_treated: int = Field(200, ge=1, le=10**9, description="Training rows an action needs (and rows left alone) to learn its effect.")
    margin_share: float = Field(0.4, gt=0, le=1, description="Monthly margin as a share of the monthly price (`flagging.strategy: value`).")
    expected_months: float = Field(12.0, gt=0, le=600, description="Months a saved customer is expected to stay (`flagging.strategy: value`).")


class MonitoringConfig(_Model):
    """What each nightly run keeps for the runs after it, and when a run is judged to have drifted.

    Drift is measured per feature as the population stability index (PSI) of tonight's values against the model's
    training reference (the validation snapshots' deciles, or category shares): an effect size that does not grow
    with the number of customers, unlike a test's p-value, which at a million customers calls any wobble
    significant."""

    history: bool = Field(True, description="Keep each run's history (probabilities, causes, features, drift counts) for the runs after it.")
    history_dir: str | None = Field(
        None,
        description="Where the run histories go: unset, inside each run folder beside the scores file (`.FILE.csv.runs/RUN/history`); "
        "a folder, `DIR/FILE.csv-HASH/RUN/history` there (HASH from the scores file's absolute path), e.g. on a larger or backed-up disk. "
        "The manifest records the folder used, for `report`, `explain --scores` and `backtest`.",
    )
    keep_runs: int = Field(
        30, ge=1, le=10_000,
        description="Earlier runs of a scores output kept (scores, manifest and history, in `.FILE.csv.runs/`, and the histories in `history_dir`); older ones are removed after a run publishes.",
    )
    drift_bins: int = Field(10, ge=2, le=100, description="Quantile bins of a numeric feature's training reference.")
    psi_watch: float = Field(0.1, ge=0, description="PSI from which a feature is listed as moving.")
    psi_drift: float = Field(0.2, ge=0, description="PSI from which a feature (or the predictions) counts as drifted.")
    treatment_window_days: int = Field(
        30, ge=1, le=366,
        description="`outcomes`: a remedy recorded in `retention_actions` within this many days of a run counts as that run's treatment.",
    )
    treatment_washout_days: int = Field(
        90, ge=0, le=3660,
        description="`outcomes`: customers with a remedy recorded in this many days before a run are left out of that run's comparison, "
        "on both sides: a remedy still working would blur the control group (drawn afresh each run) and the treated alike.",
    )
    move_factor: float = Field(
        2.0, ge=0,
        description="A feature moved since the previous run when the PSI between the two runs is at least this many times its usual "
        "month-to-month PSI in training (the 90th percentile over consecutive training snapshots) and at least psi_watch: "
        "features that swing every month (regional incidents) need a larger move than steady ones.",
    )
    feed_max_drop: float = Field(
        0.5, ge=0, le=1,
        description="A log whose rows of the last 30 days per active customer fell by more than this share against "
        "the median of the last three runs (0.5: halved) is reported as a broken feed (an alert).",
    )
    feed_max_rise: float = Field(
        4.0, ge=1,
        description="A log whose recent rows per customer rose more than this many times is listed in the manifest, "
        "not alerted: an incident wave alone can triple the faults of a month.",
    )

    @model_validator(mode="after")
    def _watch_below_drift(self) -> MonitoringConfig:
        if self.psi_watch > self.psi_drift:
            raise ValueError(f"monitoring.psi_watch ({self.psi_watch}) is above psi_drift ({self.psi_drift})")
        return self


class ChurnConfig(_Model):
    """Everything the pipeline needs, in one typed object."""

    labels: LabelConfig = LabelConfig()
    features: FeatureConfig = FeatureConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    model: ModelConfig = ModelConfig()
    flagging: FlaggingConfig = FlaggingConfig()
    cause: CauseConfig = CauseConfig()
    playbook: PlaybookConfig = PlaybookConfig()
    tracking: TrackingConfig = TrackingConfig()
    scoring: ScoringConfig = ScoringConfig()
    referral: ReferralConfig = ReferralConfig()
    signing: SigningConfig = SigningConfig()
    validation: ValidationConfig = ValidationConfig()
    winback: WinbackConfig = WinbackConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    uplift: UpliftConfig = UpliftConfig()
    static_attribute_families: dict[str, Family] = Field(
        default_factory=dict,
        description="Cause family of `customers` columns; unlisted attributes are `other`, context that says how "
        "much a pain hurts this customer, never a cause of its own. Put a column in `price` or `service` only if a "
        "value of it is a pain the remedy can fix (a contract without commitment, no technical support plan); names "
        "not in your customers table are ignored.",
    )
    static_attribute_references: dict[str, float | str | list[str]] = Field(
        default_factory=dict,
        description="Healthy value of a `price` or `service` attribute, or a list of healthy levels (e.g. `Contract: "
        "[Two year, One year]`); cause shares measure what the customer's own value adds against it. Unlisted: the "
        "most common value in training.",
    )
    ignore_static_attributes: list[str] = Field(
        default_factory=list, description="`customers` columns never used as features (identifiers, free text)."
    )

    @model_validator(mode="after")
    def _winback_after_grace(self) -> ChurnConfig:
        if self.winback.min_days < self.labels.grace_days:
            raise ValueError(
                f"winback.min_days ({self.winback.min_days}) is below labels.grace_days ({self.labels.grace_days}): "
                "a customer who left more recently may still return within the grace period, so the churn is not yet confirmed"
            )
        return self

    def fingerprint(self) -> str:
        """Stable hash of the resolved configuration, stored with models and runs."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


DEFAULT_CONFIG_PATH = Path("configs/default.yaml")


_SHORT = reprlib.Repr()  # an alias bomb's value would otherwise be printed in full (billions of items)
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def _describe(error: ErrorDetails) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key; check the spelling against configs/default.yaml"
    if error["type"] == "invalid_key":
        # The location holds the key as Python read it (True shows as 1): name it as the YAML spelled it.
        where = ".".join(str(p) for p in error["loc"][:-1]) or "(top level)"
        value = error.get("input")
        if isinstance(value, bool):
            spelled = "true, yes or on" if value else "false, no or off"
            return f"{where}: a key written {spelled} is read by YAML as {str(value).lower()}, not text; quote it, e.g. 'yes':"
        key = _yaml_scalar(value)
        return f"{where}: the key {key} is not text (YAML reads bare numbers and dates as values); quote it: '{key}':"
    shown = _SHORT.repr(error.get("input"))
    return f"{path}: {error['msg'].removeprefix('Value error, ')} (got {shown})"


def parse_config(data: dict[str, Any] | None, source: str = "<config>") -> ChurnConfig:
    """Build a :class:`ChurnConfig` from plain data, naming every bad key path in the error."""
    try:
        return ChurnConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: invalid configuration: {problems}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping: plain YAML keeps the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # a merge key (<<) brings defaults the keys beside it may override
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # an unhashable key is refused by the base constructor
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} on line {line} repeats the one on line {seen[key]}; keep one", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path | str | None = None) -> ChurnConfig:
    """Load a YAML config file; with no path, the defaults (``configs/default.yaml`` holds the same values)."""
    if path is None:
        return ChurnConfig()
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = yaml.load(raw.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; pass --config with an existing YAML file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; pass --config with a YAML file, such as configs/default.yaml") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a configuration; configs/default.yaml shows the shape") from None
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {problem or exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return parse_config(data, str(path))


def _yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _document(model: type[BaseModel], values: dict[str, Any], indent: int) -> list[str]:
    lines = []
    pad = "  " * indent
    for name, info in model.model_fields.items():
        value = values[name]
        annotation = info.annotation
        if info.description:
            lines.append(f"{pad}# {info.description}")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.extend(_document(annotation, value, indent + 1))
        else:
            lines.append(f"{pad}{name}: {_yaml_scalar(value)}")
    return lines


def default_config_yaml() -> str:
    """The defaults as commented YAML: the content of ``configs/default.yaml``."""
    header = [
        "# churnml configuration: every key with its default. Copy this file, change what you need and pass it",
        "# with --config. Unknown keys and wrong types are refused with the key path.",
    ]
    return "\n".join(header + _document(ChurnConfig, ChurnConfig().model_dump(mode="json"), 0)) + "\n"
