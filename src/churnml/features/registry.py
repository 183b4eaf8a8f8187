"""The one feature registry: every feature's name, cause family, healthy reference and plain-language reason.

Explanations turn a feature's contribution into a reason with the customer's own value ("4 support contacts with
waits over 20 min in the last 30 days"), and the remedy playbook sums contributions per cause family. Price
features marked ``plan_mismatch`` and service features marked ``shared_incident`` let it tell a plan review from a
retention offer and an incident update from a manager's call.

Each pain feature declares its **healthy reference**: the value of a customer nothing is wrong with (no rise, paying
what new customers pay, no unresolved contact), with the direction in which it hurts. Causes are measured as what
moving a family's features from the reference to the customer's values adds to the risk, and a reason cites only a
value that departs from the reference in the harmful direction. Features without a reference (tenure, plan, who the
customer is) are *context*: they set how much a pain hurts this customer and never count as a pain themselves.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnml.config import ChurnConfig, Family
from churnml.features._common import window_name
from churnml.features.complaints import PRICE_CATEGORY
from churnml.features.static import is_numeric_attribute, static_feature_names
from churnml.features.support import TREND_PER_DAYS
from churnml.schemas import COMPLAINT_CATEGORIES

PLAN_MISMATCH = "plan_mismatch"
SHARED_INCIDENT = "shared_incident"

COUNT, NUMBER, FLAG, CATEGORY = "count", "number", "flag", "category"
HIGHER, LOWER, AWAY = "higher", "lower", "away"  # which departures from the reference hurt
NO_EVENT = math.nan  # reference of a feature that is missing when nothing happened (no contact, no survey)
_INF = math.inf


@dataclass(frozen=True)
class FeatureSpec:
    """One feature. ``template`` is a ``str.format`` string; see :func:`render_reason` for its fields."""

    name: str
    family: Family
    template: str
    source: str  # the table it is computed from
    kind: str = NUMBER  # count, number, flag or category
    group: str | None = None  # PLAN_MISMATCH or SHARED_INCIDENT
    missing: str | None = None  # the reason when the value is missing
    zero: str | None = None  # the reason when the value is 0, where the template would read oddly
    reference: float | str | tuple[str, ...] | None = None  # healthy value(s) (NO_EVENT: missing); None = context
    hurts: str | None = None  # HIGHER, LOWER or AWAY from the reference
    neutral: tuple[float, float] | None = None  # values still healthy; default: the reference's healthy side
    label: str | None = None  # how people know it (a customers column's original header); default: the name

    @property
    def context(self) -> bool:
        """No healthy reference: part of who the customer is, never a pain of its own."""
        return self.reference is None

    def neutral_range(self) -> tuple[float, float] | None:
        """Closed interval of healthy numeric values; None where only the reference itself is healthy."""
        if self.neutral is not None:
            return self.neutral
        if not isinstance(self.reference, float) or math.isnan(self.reference):
            return None
        r = float(self.reference)
        return {HIGHER: (-_INF, r), LOWER: (r, _INF)}.get(self.hurts or AWAY, (r, r))

    @property
    def plan_mismatch(self) -> bool:
        return self.group == PLAN_MISMATCH

    @property
    def shared_incident(self) -> bool:
        return self.group == SHARED_INCIDENT


def feature_registry(config: ChurnConfig, static_columns: Mapping[str, Any] | None = None) -> dict[str, FeatureSpec]:
    """Every feature :func:`churnml.features.build_features` emits, in its column order.

    ``static_columns`` maps the ``customers`` attribute columns to their dtypes (``dataset.customers.dtypes``);
    without it the registry has no static attributes.
    """
    specs = [
        *_subscription_specs(config),
        *_price_specs(config),
        *_usage_specs(config),
        *_support_specs(config),
        *_billing_specs(config),
        *_complaint_specs(config),
        *_fault_specs(config),
        *_survey_specs(config),
        *_friction_specs(config),
    ]
    registry = {s.name: s for s in specs}
    if static_columns:
        registry.update(_static_specs(config, static_columns, reserved=registry.keys()))
    return registry


_NONE_IS_HEALTHY: dict[str, Any] = {"reference": 0.0, "hurts": HIGHER}  # counts, sizes, scores of failures


def _recent(days: int) -> dict[str, Any]:
    """Days since the latest event: healthy when there is none, or when it is at least ``days`` old."""
    return {"reference": NO_EVENT, "hurts": LOWER, "neutral": (float(days), _INF)}


def _subscription_specs(config: ChurnConfig) -> list[FeatureSpec]:
    o, src = Family.OTHER, "subscriptions"
    new_days = config.labels.new_customer_days
    return [
        FeatureSpec("tenure_days", o, "customer for {value} days", src),
        FeatureSpec("current_run_days", o, "current subscription running for {value} days", src),
        FeatureSpec(
            "previous_churns", o, "left and came back {value} time{s} before", src, COUNT, zero="never left before"
        ),
        FeatureSpec("is_new", o, f"new customer (joined under {new_days} days ago): {{value}}", src, FLAG),
        FeatureSpec("is_won_back", o, "won back after leaving before: {value}", src, FLAG),
        FeatureSpec(
            "days_since_last_churn", o, "came back after leaving {value} days ago", src, missing="never left before"
        ),
        FeatureSpec("plan", o, "on plan {value}", src, CATEGORY),
        FeatureSpec("plan_changes", o, "changed plan {value} time{s}", src, COUNT),
    ]


def _per_window(
    config: ChurnConfig, stem: str, family: Family, what: str, source: str, group: str | None = None
) -> list[FeatureSpec]:
    """One count feature ``{stem}_{w}d`` per window, read as "{value} {what} in the last {w} days"."""
    return [
        FeatureSpec(
            window_name(stem, w), family, f"{{value}} {what} in the last {w} days", source, COUNT, group, **_NONE_IS_HEALTHY
        )
        for w in config.features.windows_days
    ]


def _price_specs(config: ChurnConfig) -> list[FeatureSpec]:
    p, src, cfg = Family.PRICE, "price_changes", config.features
    longest = max(cfg.windows_days)
    specs = [FeatureSpec("monthly_price", p, "pays {value:.2f} a month", "subscriptions")]
    specs += _per_window(config, "price_increases", p, "price increase{s}", src)
    specs += [
        FeatureSpec(
            window_name("price_change_pct", longest),
            p,
            f"price {{up_down}} {{abs:.0f}}% in the last {longest} days",
            src,
            zero=f"price unchanged in the last {longest} days",
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("price_max_increase_pct", longest),
            p,
            f"a price increase of {{value:.0f}}% in the last {longest} days",
            src,
            zero=f"no price increase in the last {longest} days",
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("price_short_notice_increases", longest),
            p,
            f"{{value}} price increase{{s}} with under {cfg.short_notice_days} days' or unknown notice "
            f"in the last {longest} days",
            src,
            COUNT,
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "price_days_since_last_increase",
            p,
            "last price increase {value} days ago",
            src,
            missing="no price increase on record",
            **_recent(longest),
        ),
        FeatureSpec(
            "price_last_increase_pct",
            p,
            "the latest price increase was {value:.0f}%",
            src,
            missing="no price increase on record",
            reference=NO_EVENT,
            hurts=HIGHER,
            neutral=(-_INF, 0.0),
        ),
        FeatureSpec(
            "price_last_increase_notice_days",
            p,
            "the latest price increase came with {value} days' notice",
            src,
            missing="no notice on record for the latest price increase",
            zero="the latest price increase came without notice",
            reference=NO_EVENT,
            hurts=LOWER,
            neutral=(float(cfg.short_notice_days), _INF),
        ),
        FeatureSpec(
            "price_vs_new_customers_ratio",
            p,
            "pays {value:.0%} of what new customers pay for the same plan",
            src,
            missing="no recent new-customer price for the plan",
            reference=1.0,
            hurts=HIGHER,
        ),
        FeatureSpec(
            "price_vs_new_customers_diff",
            p,
            "pays {abs:.2f} a month {more_less} than new customers on the same plan",
            src,
            missing="no recent new-customer price for the plan",
            zero="pays the same as new customers on the same plan",
            **_NONE_IS_HEALTHY,
        ),
    ]
    return specs


def _usage_specs(config: ChurnConfig) -> list[FeatureSpec]:
    p, o, src = Family.PRICE, Family.OTHER, "usage"
    k = config.features.usage_months
    months = f"the last {k} months"
    return [
        FeatureSpec(
            f"usage_utilisation_{k}m",
            p,
            f"used {{value:.0%}} of the allowance on average over {months}",
            src,
            group=PLAN_MISMATCH,
            missing="no usage allowance on record",
            reference=0.75,
            hurts=AWAY,
            neutral=(0.5, 1.0),
        ),
        FeatureSpec(
            f"usage_months_over_allowance_{k}m",
            p,
            f"over the allowance in {{value}} of {months}",
            src,
            COUNT,
            PLAN_MISMATCH,
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            f"usage_months_under_half_{k}m",
            p,
            f"used under half of the allowance in {{value}} of {months}",
            src,
            COUNT,
            PLAN_MISMATCH,
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "usage_unlimited", o, "unlimited allowance: {value}", src, FLAG, missing="no recent usage on record"
        ),
        FeatureSpec(
            f"usage_volume_{k}m",
            o,
            f"average monthly usage {{value}} over {months}",
            src,
            missing="no recent usage on record",
        ),
        FeatureSpec(
            "usage_trend_pct",
            o,
            f"usage {{up_down}} {{abs:.0f}}% over {months} against the {k} before",
            src,
            missing="no earlier usage to compare with",
            zero=f"usage steady over {months}",
            reference=0.0,
            hurts=LOWER,
        ),
    ]


def _support_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src, cfg = Family.SERVICE, "support_contacts", config.features
    longest = max(cfg.windows_days)
    last = f"in the last {longest} days"
    wait = f"{cfg.long_wait_minutes:g} min"
    specs = _per_window(config, "support_contacts", s, "support contact{s}", src)
    specs += _per_window(config, "support_long_waits", s, f"support contact{{s}} with waits over {wait}", src)
    no_contact = f"no support contact {last}"
    slow: dict[str, Any] = {"reference": NO_EVENT, "hurts": HIGHER, "neutral": (0.0, float(cfg.long_wait_minutes))}
    none_failed: dict[str, Any] = {"reference": NO_EVENT, "hurts": HIGHER, "neutral": (-_INF, 0.0)}
    specs += [
        FeatureSpec(
            window_name("support_wait_mean", longest),
            s,
            f"average support wait {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            **slow,
        ),
        FeatureSpec(
            window_name("support_wait_p90", longest),
            s,
            f"1 in 10 support waits over {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            **slow,
        ),
        FeatureSpec(
            window_name("support_wait_max", longest),
            s,
            f"longest support wait {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            **slow,
        ),
        FeatureSpec(
            window_name("support_long_wait_share", longest),
            s,
            f"{{value:.0%}} of support contacts waited over {wait} {last}",
            src,
            missing=no_contact,
            **none_failed,
        ),
    ]
    specs += _per_window(config, "support_unresolved", s, "unresolved support contact{s}", src)
    specs.append(
        FeatureSpec(
            window_name("support_unresolved_share", longest),
            s,
            f"{{value:.0%}} of support contacts unresolved {last}",
            src,
            missing=no_contact,
            **none_failed,
        )
    )
    specs += _per_window(
        config,
        "support_repeat_contacts",
        s,
        f"repeat support contact{{s}} within {cfg.repeat_contact_days} days of the previous one",
        src,
    )
    specs += [
        FeatureSpec(
            "support_days_since_last_contact",
            s,
            "last support contact {value:.0f} days ago",
            src,
            missing="no support contact on record",
            **_recent(longest),
        ),
        FeatureSpec(
            "support_contact_trend",
            s,
            f"support contacts {{up_down}} by {{abs:.1f}} per {TREND_PER_DAYS} days in the last "
            f"{cfg.trend_recent_days} days against the {cfg.trend_baseline_days} days before",
            src,
            zero=f"support contacts steady in the last {cfg.trend_recent_days} days",
            **_NONE_IS_HEALTHY,
        ),
    ]
    return specs


def _billing_specs(config: ChurnConfig) -> list[FeatureSpec]:
    p, src = Family.PRICE, "support_contacts"
    return [
        *_per_window(config, "billing_contacts", p, "contact{s} about the bill", src),
        *_per_window(config, "billing_unresolved", p, "unresolved contact{s} about the bill", src),
        *_per_window(
            config,
            "billing_repeat_contacts",
            p,
            f"repeat contact{{s}} about the bill within {config.features.repeat_contact_days} days of the previous one",
            src,
        ),
    ]


def _complaint_specs(config: ChurnConfig) -> list[FeatureSpec]:
    src = "complaints"
    longest = max(config.features.windows_days)
    last = f"in the last {longest} days"
    specs = [
        FeatureSpec(
            window_name(f"complaints_{cat}", longest),
            Family.PRICE if cat == PRICE_CATEGORY else Family.SERVICE,
            f"{{value}} {cat} complaint{{s}} {last}",
            src,
            COUNT,
            **_NONE_IS_HEALTHY,
        )
        for cat in COMPLAINT_CATEGORIES
    ]
    specs += [
        FeatureSpec(
            window_name("complaints_billing_severity", longest),
            Family.PRICE,
            f"billing complaints of total severity {{value}} {last}",
            src,
            zero=f"no billing complaint {last}",
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("complaints_nonbilling_severity", longest),
            Family.SERVICE,
            f"service complaints of total severity {{value}} {last}",
            src,
            zero=f"no service complaint {last}",
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "complaints_billing_days_since_last",
            Family.PRICE,
            "last billing complaint {value:.0f} days ago",
            src,
            missing="no billing complaint on record",
            **_recent(longest),
        ),
        FeatureSpec(
            "complaints_nonbilling_days_since_last",
            Family.SERVICE,
            "last service complaint {value:.0f} days ago",
            src,
            missing="no service complaint on record",
            **_recent(longest),
        ),
    ]
    return specs


def _fault_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src, cfg = Family.SERVICE, "tech_faults", config.features
    longest = max(cfg.windows_days)
    specs = _per_window(config, "faults", s, "technical fault{s}", src)
    specs += _per_window(
        config,
        "faults_shared_incident",
        s,
        f"fault{{s}} from incidents hitting {cfg.incident_min_customers}+ customers",
        src,
        SHARED_INCIDENT,
    )
    specs += [
        FeatureSpec(
            window_name("faults_minutes", longest),
            s,
            f"{{value:.0f}} minutes of faults in the last {longest} days",
            src,
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("faults_outages", longest),
            s,
            f"{{value}} outage{{s}} in the last {longest} days",
            src,
            COUNT,
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "faults_days_since_last",
            s,
            "last technical fault {value:.0f} days ago",
            src,
            missing="no technical fault on record",
            **_recent(longest),
        ),
    ]
    return specs


def _survey_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src = Family.SERVICE, "surveys"
    none = "no recent survey answer"
    within = f"in the last {config.features.survey_window_days} days"
    # Satisfied is 7 and up (passives and promoters on the usual 0..10 scale); no answer is no complaint.
    unhappy: dict[str, Any] = {"reference": NO_EVENT, "hurts": LOWER, "neutral": (7.0, _INF)}
    return [
        FeatureSpec("survey_last_score", s, "last survey score {value}/10", src, missing=none, **unhappy),
        FeatureSpec(
            "survey_lowest_score", s, f"lowest survey score {{value}}/10 {within}", src, missing=none, **unhappy
        ),
        FeatureSpec(
            "survey_score_change",
            s,
            "survey score {up_down} {abs} point{s} since the previous survey",
            src,
            missing="no earlier survey to compare with",
            zero="survey score unchanged since the previous survey",
            reference=NO_EVENT,
            hurts=LOWER,
            neutral=(0.0, _INF),
        ),
        FeatureSpec("survey_count", s, f"{{value}} survey{{s}} answered {within}", src, COUNT),
    ]


def _friction_specs(config: ChurnConfig) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "service_friction_score",
            Family.SERVICE,
            "service failures piling up (long waits, unresolved contacts, faults, complaints; recent ones weigh "
            "most): friction score {value:.1f}",
            "support_contacts,tech_faults,complaints",
            zero=f"no service failure in the last {max(config.features.windows_days)} days",
            **_NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "price_pressure_score",
            Family.PRICE,
            "price shocks piling up (recent rises, larger and short-notice ones weighing most, billing complaints): "
            "pressure score {value:.1f}",
            "price_changes,complaints",
            zero=f"no price rise or billing complaint in the last {max(config.features.windows_days)} days",
            **_NONE_IS_HEALTHY,
        ),
    ]


def _static_specs(config: ChurnConfig, columns: Mapping[str, Any], reserved: Any) -> dict[str, FeatureSpec]:
    names = static_feature_names(columns, config.ignore_static_attributes, reserved)
    out = {}
    for col, name in names.items():
        kind = NUMBER if is_numeric_attribute(columns[col]) else CATEGORY
        family = config.static_attribute_families.get(col, Family.OTHER)
        reference: Any = config.static_attribute_references.get(col)
        if isinstance(reference, list):  # several healthy levels; the first stands for them all
            reference = tuple(str(r) for r in reference)
        elif reference is not None:
            reference = float(reference) if kind == NUMBER else str(reference)
        header = str(col).replace("{", "{{").replace("}", "}}")  # a literal brace in a header is no template field
        out[name] = FeatureSpec(
            name,
            Family(family),
            f"{header} is {{value}}",
            "customers",
            kind,
            missing=f"{col} unknown",
            reference=reference,
            hurts=AWAY if reference is not None else None,
            label=str(col),
        )
    return out


class _ReasonFormatter(string.Formatter):
    """Numbers without a format spec print as integers when whole, else with at most two decimals."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if not format_spec and isinstance(value, float):
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return super().format_field(value, format_spec)


_FORMATTER = _ReasonFormatter()


def render_reason(spec: FeatureSpec, value: Any) -> str:
    """The spec's reason with this customer's value.

    Template fields: ``value`` (whole numbers as ints, flags as yes/no), ``abs`` (its magnitude), ``s`` (plural
    ending), ``up_down`` and ``more_less`` (its sign in words). Missing values use ``spec.missing``, zeros
    ``spec.zero`` when set.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return spec.missing or f"{spec.name.replace('_', ' ')} unknown"
    if spec.kind == CATEGORY or isinstance(value, str):
        return _FORMATTER.format(spec.template, value=str(value), abs=str(value), s="s", up_down="", more_less="")
    number = float(value)
    if spec.kind == FLAG:
        return _FORMATTER.format(
            spec.template, value="yes" if number else "no", abs="", s="s", up_down="", more_less=""
        )
    if number == 0 and spec.zero:
        return spec.zero
    shown: int | float = int(number) if math.isfinite(number) and number.is_integer() else number
    magnitude: int | float = abs(shown)
    return _FORMATTER.format(
        spec.template,
        value=shown,
        abs=magnitude,
        s="" if magnitude == 1 else "s",
        up_down="up" if number > 0 else "down" if number < 0 else "unchanged",
        more_less="more" if number > 0 else "less" if number < 0 else "no more",
    )
