"""Named simulated worlds: generator presets that change how churn comes about, not only how much of it.

Defaults are chosen so that they hold on all of these at once; a figure measured on one world alone proves little.
Each world keeps about the same overall churn but changes a mechanism: how long service pain lingers, how price
rises are scheduled, whether intake promotions expire into a rise, how often the network fails, which cause leads,
whether static attributes carry any cause, and how strongly the base rate moves with the calendar and over time.
"""

from __future__ import annotations

from typing import Any

from churnml.synth.config import SimulationConfig

_SERVICE_WEIGHTS = (
    "long_wait_weight", "unresolved_weight", "repeat_weight", "complaint_weight", "fault_weight", "incident_weight",
)
_PRICE_WEIGHTS = ("rise_weight", "billing_complaint_weight", "mismatch_weight", "price_gap_weight")


def _scaled(names: tuple[str, ...], factor: float) -> dict[str, float]:
    base = SimulationConfig()
    return {n: getattr(base, n) * factor for n in names}


# name -> (what differs, overrides of SimulationConfig)
WORLDS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("The generator as shipped: yearly rises in a month drawn per customer, service pain fading over a few months.", {}),
    "fading_service": (
        "Service pain fades within weeks (monthly persistence 0.25) and hurts more while it lasts.",
        {"service_decay": 0.25, **_scaled(_SERVICE_WEIGHTS, 2.0)},
    ),
    "lingering_service": (
        "Service pain lingers for months (monthly persistence 0.9) and each failure weighs less.",
        {"service_decay": 0.9, **_scaled(_SERVICE_WEIGHTS, 0.35)},
    ),
    "price_waves": (
        "Yearly rises come in company-wide waves (March and September, one size, one day for everyone).",
        {"rise_schedule": "wave", "wave_months": (3, 9), "annual_rise_probability": 0.45},
    ),
    "anniversary_rises": (
        "Yearly rises come on each customer's subscription anniversary.",
        {"rise_schedule": "anniversary", "annual_rise_probability": 0.75},
    ),
    "intake_promos": (
        "Most new subscriptions start on a 30% promotion that expires into a rise after six months.",
        {"promo_share": 0.7, "promo_discount": 0.3, "promo_months": 6, "annual_rise_probability": 0.4},
    ),
    "incident_heavy": (
        "An unreliable network: shared incidents three times as often, hitting more of each region.",
        {"incident_probability": 0.36, "incident_share_min": 0.4, "incident_share_max": 0.85, "fault_rate": 0.07},
    ),
    "calm_network": (
        "A calm network: almost no shared incidents and few individual faults.",
        {"incident_probability": 0.02, "fault_rate": 0.015},
    ),
    "price_led": (
        "Price leads: more and larger rises that hurt more, service failures forgiven more.",
        {
            "annual_rise_probability": 0.8,
            "individual_rise_rate": 0.015,
            **_scaled(_PRICE_WEIGHTS, 1.6),
            **_scaled(_SERVICE_WEIGHTS, 0.5),
        },
    ),
    "service_led": (
        "Service leads: failures hurt more, rises are rarer and forgiven more.",
        {"annual_rise_probability": 0.35, **_scaled(_PRICE_WEIGHTS, 0.5), **_scaled(_SERVICE_WEIGHTS, 1.6)},
    ),
    "no_static_causes": (
        "Static attributes carry no cause: sensitivities and the `other` propensity are hidden traits only.",
        {
            "static_causes": False,
            "price_sensitivity_sigma": 0.6,
            "service_sensitivity_sigma": 0.6,
            "other_propensity_sigma": 0.5,
        },
    ),
    "seasonal_drift": (
        "Strong seasonality (January and September peaks twice the usual) and a base churn rate rising 2% a month.",
        {
            "seasonality": (2.4, 1.0, 0.9, 0.85, 0.8, 0.8, 0.9, 1.0, 2.0, 1.1, 0.9, 0.6),
            "base_hazard_drift": 0.02,
        },
    ),
    "known_changes": (
        "The default world with three changes on known dates, to measure monitoring: an incident wave (three outages "
        "hitting 80% of the largest region) in month 17, a 15% list-price rise to the first plan in month 18, and "
        "the surveys export stopping from month 19 (from 2024-01-01: June, July and August 2025).",
        {"shocks": {"incident_wave_month": 17, "plan_rise_month": 18, "feed_stop_month": 19, "feed_stop_table": "surveys"}},
    ),
    "treatments": (
        "The default world with a CRM applying the playbook every month: the riskiest 10% by a noisy view of the true "
        "risk flagged, 5% of them held out as the control group, 80% of the rest treated; an offer cuts the price "
        "hazard, a call the service hazard, by 60% for three months; a quarter of remedies address the wrong cause and "
        "5% of contacted customers react badly. `retention_actions` records what it did; the truth, every effect.",
        {"treatments": {"enabled": True}},
    ),
    "contact_backfires": (
        "The treatment world where contact backfires on customers whose plan does not fit their usage (smoothed plan "
        "mismatch at least 0.25): any remedy raises all their hazard by 56% while it lasts instead of helping, as in "
        "Ascarza, Iyengar & Schleicher's field experiment (2016: 10.0% of contacted overspenders left within three "
        "months against 6.4% of those left alone). A world where whom a remedy saves is not simply who is at risk.",
        {"treatments": {"enabled": True, "misfit_backfire_effect": 0.56, "misfit_level": 0.25}},
    ),
}


def world_config(name: str) -> SimulationConfig:
    """The simulator configuration of a named world; ``ValueError`` naming the choices for an unknown name."""
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; choose one of {', '.join(WORLDS)}")
    return SimulationConfig(**WORLDS[name][1])
