"""Synthetic customers whose churn follows from what happens to them, with the truth kept alongside.

The simulator loops over months only; inside a month everything is vectorised over customers. At the start of a
month each active customer's hazard is computed from the state known then (pain from earlier events, decayed, and
the customer's latent sensitivities)::

    h = h_other + h_price + h_service

``h_price`` grows with recent rises (worse without notice), plan mismatch and paying above today's list price;
``h_service`` with long waits, unresolved and repeated contacts, complaints, faults and shared incidents, beyond a
small tolerance (an isolated bad experience is forgiven, a pattern is not); ``h_other`` is a baseline times
seasonality, lifecycle fragility, disengagement, static attributes and noise. Churners leave on a random day of the
month; the component with the largest share is the planted cause. The month's events are then drawn for everyone
present (see :mod:`churnml.synth.events`) and become next month's pain.

As in real portfolios, what drives a customer's churn is largely observable, though never directly: the price and
service sensitivities and the `other` propensity are mostly written in who the customer is (acquisition channel,
payment method, life stage, household; see :func:`_latent`) and leave traces in the logs (customers who mind service
contact support more and call after faults; price-sensitive ones ask about their bill and call after a rise, see
:mod:`churnml.synth.events`). Only a modest lognormal part of each trait stays hidden, so a good model can get close
to the simulator's own probabilities, but not all the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.schemas import COMPLAINT_CATEGORIES, FAULT_TYPES, ID_DTYPE, TABLES, empty_frame
from churnml.synth.config import ACQUISITION_CHANNELS, CONTACT_TOPICS, PAYMENT_METHODS, SimulationConfig
from churnml.synth.crm import Crm
from churnml.synth.events import DAY, Customers, Month, simulate_month

CAUSES: tuple[str, ...] = ("other", "price", "service")
_NEVER = np.iinfo(np.int64).max // (2 * DAY)  # a day that never comes
_YEAR = 365.25
_MEAN_HOUSEHOLD = 2.6  # household sizes are 1 + Poisson(1.6), cut at 7
# Life-stage ages of the latent traits (see _latent) and the population means of their age terms under the default
# age distribution (normal 44 +- 14, clipped to 18..90), so that the age terms average out to about 1.
_PRICE_CALM_AGE, _PRICE_CALM_SPREAD = 50.0, 12.0  # price sensitivity is lowest at 50: E|age - 50| ~ 12
_SERVICE_CARE_AGE, _SERVICE_CARE_MEAN = 40.0, 8.0  # service expectations grow after 40: E max(age - 40, 0) ~ 8
_YOUNG_AGE, _YOUNG_MEAN = 32.0, 1.35  # young adults move and switch: E max(32 - age, 0) ~ 1.35


@dataclass(frozen=True)
class SyntheticData:
    """Canonical tables plus what the simulator knows and a model can only estimate.

    ``tables`` holds every table of the input contract, keyed and ordered as :data:`churnml.schemas.TABLES`.
    ``truth`` has one row per churn in ``[start, end)`` (``customer_id``, ``churn_date``, planted ``cause``, and
    ``churn_probability``: the simulator's probability of churn within 60 days from the first of the churn month);
    periods that ended before ``start`` (customers won back earlier) are history, not truth. ``oracle`` scores
    every customer active on the first day of each month with the simulator's own 60-day probability, the monthly
    hazard parts it used (``hazard_other``, ``hazard_price``, ``hazard_service``) and the cause they imply
    (``oracle_cause``, the largest part): the truth about cause that was knowable at that date; in a treatment
    world also whether a contact that month would backfire for the customer's plan (``contact_backfires``).
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    oracle: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive: the natural extract date
    # In a treatment world: every customer the simulated CRM flagged, each month (churnml.synth.crm).
    treatments: pd.DataFrame | None = None


@dataclass
class _State:
    """Mutable per-customer state of the simulation (arrays over the whole population)."""

    active: np.ndarray
    opened: np.ndarray
    ever_churned: np.ndarray
    next_start: np.ndarray
    period_start: np.ndarray
    lock_until: np.ndarray
    promo_end: np.ndarray  # day an intake promotion expires; _NEVER without one
    plan: np.ndarray
    price: np.ndarray  # price paid now
    start_price: np.ndarray  # price when the current period started (what subscriptions.monthly_price records)
    log_need: np.ndarray
    log_e: np.ndarray
    drifting: np.ndarray
    service: np.ndarray  # service pain, in hazard units before sensitivity
    rises: np.ndarray  # price-rise pain, in hazard units before sensitivity
    mismatch: np.ndarray  # smoothed plan mismatch


@dataclass(frozen=True)
class _Catalogue:
    names: list[str]
    allowance: np.ndarray  # NaN = unlimited
    reference: np.ndarray  # allowance used to judge fit; finite for every plan
    list_prices: np.ndarray  # plans x months


def generate(
    n_customers: int,
    seed: int = 0,
    start: str = "2024-01-01",
    months: int = 24,
    config: SimulationConfig | None = None,
) -> SyntheticData:
    """Simulate ``n_customers`` distinct customers over ``months`` months from ``start`` (a first of month).

    Deterministic for identical arguments. Every table is a canonical frame in the input contract; nothing is
    dated at or after the returned ``end``.
    """
    cfg = config or SimulationConfig()
    if n_customers < 1:
        raise ValueError(f"n_customers must be positive, got {n_customers}")
    if months < 1:
        raise ValueError(f"months must be positive, got {months}")
    t_start = pd.Timestamp(start)
    if t_start.tzinfo is not None or t_start != t_start.normalize() or t_start.day != 1:
        raise ValueError(f"start must be a timezone-naive first day of a month, got {start!r}")
    rng = np.random.default_rng(seed)
    month_starts = pd.date_range(t_start, periods=months + 1, freq="MS")
    month_days = month_starts.values.astype("datetime64[D]").astype(np.int64)
    catalogue = _catalogue(rng, cfg, month_starts)
    pop, st, prior = _population(rng, cfg, n_customers, month_days, catalogue)
    _burn_in(rng, cfg, pop, st, t_start, catalogue)
    # Records begin at `start`: the warm-up's rises are history, so a period's recorded price is today's.
    st.start_price[:] = st.price

    oracle_parts: list[tuple[np.ndarray, ...]] = []
    truth_parts: list[tuple[np.ndarray, ...]] = []
    period_parts: list[tuple[np.ndarray, ...]] = [prior]
    rows: dict[str, list[dict[str, np.ndarray]]] = {}
    incidents: list[tuple[int, int, str]] = []
    back_p = np.array([getattr(cfg, f"winback_probability_{c}") for c in CAUSES])
    crm = None
    if cfg.treatments.enabled:
        # The CRM needs the ids from the first month (its control group hashes them); its own draws use their own
        # stream, so the world's stream is the one it would be without the CRM until a remedy changes a churn.
        crm = Crm(cfg.treatments, _customer_ids(np.random.default_rng([seed, 1]), n_customers), cfg.max_hazard,
                  np.random.default_rng([seed, 2]))
    for m in range(months):
        t0, t1 = int(month_days[m]), int(month_days[m + 1])
        _open(rng, cfg, st, np.flatnonzero(~st.active & (st.next_start == t0)), t0, m, catalogue)
        active = np.flatnonzero(st.active)
        h_other, h_price, h_service = _hazard(rng, cfg, pop, st, active, t0, m, month_starts[m].month - 1, catalogue)
        if crm is not None:
            h_other, h_price, h_service = crm.month(m, month_starts[m], active, h_other, h_price, h_service, st.mismatch[active])
        hazard = np.minimum(h_other + h_price + h_service, cfg.max_hazard)
        p60 = 1.0 - (1.0 - hazard) ** 2
        oracle_parts.append((active, p60, h_other, h_price, h_service)
                            + ((crm.misfits(st.mismatch[active], len(active)),) if crm is not None else ()))

        churn = rng.random(len(active)) < hazard
        churners = active[churn]
        churn_day = t0 + rng.integers(1, t1 - t0, len(churners))
        cause = np.argmax(np.stack([h_other, h_price, h_service])[:, churn], axis=0)
        truth_parts.append((churners, churn_day, cause, p60[churn]))

        joiners = np.flatnonzero(~st.active & (st.next_start > t0) & (st.next_start < t1))
        join_day = st.next_start[joiners].copy()
        _open(rng, cfg, st, joiners, join_day, m, catalogue)
        b = np.full(len(active), t1, np.int64)
        b[churn] = churn_day
        mo = Month(
            t0=t0,
            t1=t1,
            calendar_month=month_starts[m].month - 1,
            label=f"{month_starts[m].year}-{month_starts[m].month:02d}",
            present=np.concatenate([active, joiners]),
            a=np.concatenate([np.full(len(active), t0, np.int64), join_day]),
            b=np.concatenate([b, np.full(len(joiners), t1, np.int64)]),
            felt_service=np.concatenate([h_service, np.zeros(len(joiners))]),
            felt_price=np.concatenate([h_price, np.zeros(len(joiners))]),
            index=m,
        )
        windows = [w for w in incidents if w[1] + cfg.incident_load_days * DAY > t0 * DAY]
        out = simulate_month(
            rng, cfg, _customers_view(pop, st), mo, catalogue.allowance, catalogue.reference, windows, len(incidents)
        )
        incidents.extend(out.incidents)
        for table, cols in out.rows.items():
            rows.setdefault(table, []).append(cols)
        loc, new_price = out.new_prices
        st.price[mo.present[loc]] = new_price
        st.promo_end[st.promo_end < t1] = _NEVER  # expired into a rise this month

        # A period records the price it started at; later rises are rows of price_changes. Writing the end price
        # here would leak future rises into every snapshot taken during the period.
        period_parts.append((churners, st.period_start[churners], churn_day, st.plan[churners], st.start_price[churners]))
        propensity = _return_propensity(cfg, st, churners, churn_day, back_p[cause])
        back = rng.random(len(churners)) < propensity
        gap = rng.integers(cfg.winback_min_days, cfg.winback_max_days + 1, len(churners))
        truth_parts[-1] += (propensity, np.where(back, churn_day + gap, -1))
        st.next_start[churners] = np.where(back, churn_day + gap, _NEVER)
        st.active[churners] = False
        st.ever_churned[churners] = True
        _update_state(rng, cfg, pop, st, mo, out.service_pain, out.price_pain, out.mismatch)

    still = np.flatnonzero(st.active)
    period_parts.append(
        (still, st.period_start[still], np.full(len(still), -1, np.int64), st.plan[still], st.start_price[still])
    )
    ids = _customer_ids(rng, n_customers) if crm is None else crm.ids
    tables = _assemble_tables(ids, pop, rows, period_parts, catalogue, incidents, cfg)
    treatments = None
    if crm is not None:
        tables["retention_actions"], treatments = crm.tables()
    if cfg.shocks.feed_stop_month is not None:  # the export broke: that log's rows stop arriving from the month on
        name, since = cfg.shocks.feed_stop_table, month_starts[min(cfg.shocks.feed_stop_month, months)]
        frame = tables[name]
        tables[name] = frame[~(frame[TABLES[name].time_column] >= since)].reset_index(drop=True)
    return SyntheticData(
        tables=tables,
        truth=_truth_frame(ids, truth_parts),
        oracle=_oracle_frame(ids, oracle_parts, month_starts[:-1]),
        start=month_starts[0],
        end=month_starts[-1],
        treatments=treatments,
    )


# --- setup ----------------------------------------------------------------------------------------------------------


def _catalogue(rng: np.random.Generator, cfg: SimulationConfig, month_starts: pd.DatetimeIndex) -> _Catalogue:
    allowance = np.array([np.nan if p.allowance_gb is None else p.allowance_gb for p in cfg.plans])
    finite = allowance[np.isfinite(allowance)]
    ref_unlimited = cfg.unlimited_reference_gb or (float(finite.max()) if len(finite) else 50.0)
    reference = np.where(np.isnan(allowance), ref_unlimited, allowance)
    current = np.array([p.list_price for p in cfg.plans])
    prices = np.empty((len(cfg.plans), len(month_starts) - 1))
    for m in range(prices.shape[1]):  # competition moves list prices each January
        if m > 0 and month_starts[m].month == 1:
            current = np.round(current * (1.0 + rng.uniform(cfg.list_change_min, cfg.list_change_max, len(current))), 2)
        prices[:, m] = current
    return _Catalogue([p.name for p in cfg.plans], allowance, reference, prices)


def _lognormal(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Mean-one lognormal draws."""
    return np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)


def _choose_plan(
    rng: np.random.Generator, cfg: SimulationConfig, log_need: np.ndarray, fit_p: float, cat: _Catalogue
) -> np.ndarray:
    """The smallest plan that fits the need, or with probability ``1 - fit_p`` any plan."""
    size = np.where(np.isnan(cat.allowance), np.inf, cat.allowance)
    order = np.argsort(size, kind="stable")
    pos = np.minimum(np.searchsorted(size[order], np.exp(log_need) * cfg.plan_fit_headroom), len(order) - 1)
    fit = order[pos]
    return np.where(rng.random(len(log_need)) < fit_p, fit, rng.integers(0, len(order), len(log_need))).astype(np.int16)


def _expected_mismatch(cfg: SimulationConfig, log_need: np.ndarray, plan: np.ndarray, cat: _Catalogue) -> np.ndarray:
    ratio = np.exp(log_need) / cat.reference[plan]
    return np.clip(ratio - 1.0, 0.0, 2.0) + cfg.unused_weight * np.clip(
        (cfg.unused_threshold - ratio) / cfg.unused_threshold, 0.0, 1.0
    )


@dataclass(frozen=True)
class _Population:
    """Per-customer traits; fixed over the window (the burn-in may redraw the latent ones before it)."""

    region: np.ndarray
    channel: np.ndarray
    payment: np.ndarray
    age: np.ndarray
    household: np.ndarray
    price_sens: np.ndarray
    service_sens: np.ndarray
    contact_prop: np.ndarray
    fault_prone: np.ndarray
    satisfaction: np.ndarray
    other_mult: np.ndarray
    rise_month: np.ndarray
    need_trend: np.ndarray


def _latent(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    age: np.ndarray,
    household: np.ndarray,
    channel: np.ndarray,
    payment: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Price sensitivity, service sensitivity, `other` multiplier and contact propensity of each customer.

    Each trait is a part written in the static attributes (acquisition channel, payment method, age, household;
    see the catalogues in :mod:`churnml.synth.config`) times a mean-one lognormal the logs cannot see directly.
    The unobservable service part also raises the contact propensity (``contact_service_correlation``): customers
    who mind service reach out more, so their contact history betrays it, as in real support logs.
    """
    n = len(age)
    ch = np.array([c[2:] for c in ACQUISITION_CHANNELS])[channel]
    pay = np.array([c[2:] for c in PAYMENT_METHODS])[payment]
    members = household - _MEAN_HOUSEHOLD
    if not cfg.static_causes:  # who the customer is tells nothing about why they would leave
        ch, pay = np.ones_like(ch), np.ones_like(pay)
        cfg = cfg.model_copy(
            update={"price_age_effect": 0.0, "price_household_effect": 0.0, "service_age_effect": 0.0,
                    "age_effect": 0.0, "household_effect": 0.0}
        )
    # Life stage: price sensitivity is U-shaped in age (young adults and pensioners on fixed incomes count every
    # euro), young adults move and switch for reasons of their own, and care about service grows after forty.
    price_sens = (
        ch[:, 1] * pay[:, 1]
        * np.exp(cfg.price_age_effect * (np.abs(age - _PRICE_CALM_AGE) - _PRICE_CALM_SPREAD))
        * np.exp(cfg.price_household_effect * members)
        * _lognormal(rng, cfg.price_sensitivity_sigma, n)
    )
    z_service = rng.standard_normal(n)
    s = cfg.service_sensitivity_sigma
    service_sens = (
        ch[:, 2] * pay[:, 2]
        * np.exp(cfg.service_age_effect * (np.maximum(age - _SERVICE_CARE_AGE, 0.0) - _SERVICE_CARE_MEAN))
        * np.exp(s * z_service - s**2 / 2)
    )
    other_mult = (
        ch[:, 0] * pay[:, 0]
        * np.exp(cfg.age_effect * (np.maximum(_YOUNG_AGE - age, 0.0) - _YOUNG_MEAN) - cfg.household_effect * members)
        * _lognormal(rng, cfg.other_propensity_sigma, n)
    )
    rho, c = cfg.contact_service_correlation, cfg.contact_propensity_sigma
    z_contact = rho * z_service + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    contact_prop = np.exp(c * z_contact - c**2 / 2)
    return price_sens, service_sens, other_mult, contact_prop


def _population(
    rng: np.random.Generator, cfg: SimulationConfig, n: int, month_days: np.ndarray, cat: _Catalogue
) -> tuple[_Population, _State, tuple[np.ndarray, ...]]:
    """Customers, their latent traits and the state at ``start``; positions are ordered by first start date."""
    day0, day_end = int(month_days[0]), int(month_days[-1])
    n_init = min(n, round(n * cfg.initial_active_share))
    horizon = max(2, int(cfg.history_years * _YEAR))
    # Truncated exponential by inversion: recent starts are commoner, as survivors of steady acquisition.
    scale = cfg.tenure_scale_years * _YEAR
    u = rng.random(n_init)
    tenure = np.clip(-scale * np.log1p(-u * -np.expm1(-horizon / scale)), 1, horizon).astype(np.int64)
    has_prior = rng.random(n_init) < cfg.historic_winback_share
    prior_end = day0 - tenure - rng.integers(cfg.winback_min_days, cfg.winback_max_days + 1, n_init)
    prior_start = prior_end - rng.integers(60, 3 * 365, n_init)
    joins = rng.integers(day0, day_end, n - n_init)
    first = np.concatenate([np.where(has_prior, prior_start, day0 - tenure), joins])
    # Ids are handed out in order of arrival, as a real CRM would.
    order = np.lexsort((rng.random(n), first))

    def pad(x: np.ndarray, fill: float | int) -> np.ndarray:
        return np.concatenate([x, np.full(n - n_init, fill, dtype=x.dtype)])[order]

    is_initial = pad(np.ones(n_init, bool), False)
    tenure, has_prior = pad(tenure, 0), pad(has_prior, False)
    prior_start, prior_end = pad(prior_start, 0), pad(prior_end, 0)
    joins = np.concatenate([np.full(n_init, _NEVER, np.int64), joins])[order]

    region_p = np.array(cfg.region_weights, dtype=float)
    region = rng.choice(len(region_p), n, p=region_p / region_p.sum()).astype(np.int16)
    channel = rng.choice(len(ACQUISITION_CHANNELS), n, p=[c[1] for c in ACQUISITION_CHANNELS])
    payment = rng.choice(len(PAYMENT_METHODS), n, p=[c[1] for c in PAYMENT_METHODS])
    age = np.round(np.clip(rng.normal(cfg.age_mean, cfg.age_sd, n), 18, 90))
    household = np.clip(rng.poisson(_MEAN_HOUSEHOLD - 1.0, n) + 1, 1, 7).astype(np.float64)
    price_sens, service_sens, other_mult, contact_prop = _latent(rng, cfg, age, household, channel, payment)
    pop = _Population(
        region=region,
        channel=channel,
        payment=payment,
        age=age,
        household=household,
        price_sens=price_sens,
        service_sens=service_sens,
        contact_prop=contact_prop,
        fault_prone=_lognormal(rng, cfg.fault_proneness_sigma, n),
        satisfaction=rng.normal(0.0, 0.8, n),
        other_mult=other_mult,
        rise_month=rng.integers(0, 12, n).astype(np.int8),
        need_trend=rng.normal(cfg.need_trend_mean, cfg.need_trend_sd, n),
    )

    log_need = np.log(cfg.usage_need_median_gb) + cfg.usage_need_sigma * rng.standard_normal(n)
    plan = _choose_plan(rng, cfg, log_need, cfg.plan_fit_probability, cat)
    # Long-standing customers went through past rises while list prices did not follow.
    past_rises = rng.binomial(np.floor(tenure / _YEAR).astype(np.int64), cfg.historic_rise_probability)
    base = np.array([p.list_price for p in cfg.plans])[plan]
    price = np.where(
        is_initial, np.round(base * (1 + cfg.historic_rise_size) ** past_rises * _lognormal(rng, 0.03, n), 2), np.nan
    )
    period_start = np.where(is_initial, day0 - tenure, -1)
    drift_share = cfg.disengage_probability / max(cfg.disengage_probability + cfg.reengage_probability, 1e-12)
    drifting = is_initial & (rng.random(n) < drift_share)
    log_e = np.where(drifting, -rng.uniform(0, 2, n), 0.0) + rng.normal(0, 0.1, n)

    st = _State(
        active=is_initial.copy(),
        opened=is_initial.copy(),
        ever_churned=has_prior.copy(),
        next_start=joins,
        period_start=period_start,
        lock_until=period_start + cfg.price_lock_days,
        promo_end=np.full(n, _NEVER, np.int64),
        plan=plan,
        price=price,
        # Rises before the simulated window leave no price_changes rows, so the record starts at today's price.
        start_price=price.copy(),
        log_need=log_need,
        log_e=log_e,
        drifting=drifting,
        service=np.zeros(n),
        rises=np.zeros(n),
        mismatch=np.where(is_initial, _expected_mismatch(cfg, log_need, plan, cat), 0.0),
    )
    # Earlier periods of customers who were won back before the window.
    idx = np.flatnonzero(has_prior)
    prior_plan = rng.integers(0, len(cfg.plans), len(idx)).astype(np.int16)
    prior_price = np.round(np.array([p.list_price for p in cfg.plans])[prior_plan] * _lognormal(rng, 0.05, len(idx)), 2)
    prior = (idx, prior_start[idx], prior_end[idx], prior_plan, prior_price)
    return pop, st, prior


def _burn_in(
    rng: np.random.Generator, cfg: SimulationConfig, pop: _Population, st: _State, start: pd.Timestamp, cat: _Catalogue
) -> None:
    """Live the months before ``start`` without records, so pain, prices and the population start in a steady state.

    The customers at ``start`` are survivors: one who would have left during the burn-in is replaced by a fresh
    draw of latent traits (same slot, tenure and plan), so the frailest do not all churn in the first month.
    """
    edges = pd.date_range(end=start, periods=cfg.burn_in_months + 1, freq="MS")
    days = edges.values.astype("datetime64[D]").astype(np.int64)
    for k in range(cfg.burn_in_months):
        t0, t1 = int(days[k]), int(days[k + 1])
        known = np.flatnonzero(st.active & (st.period_start <= t0))
        h_other, h_price, h_service = _hazard(rng, cfg, pop, st, known, t0, 0, edges[k].month - 1, cat)
        gone = known[rng.random(len(known)) < np.minimum(h_other + h_price + h_service, cfg.max_hazard)]
        fresh = _latent(rng, cfg, pop.age[gone], pop.household[gone], pop.channel[gone], pop.payment[gone])
        pop.price_sens[gone], pop.service_sens[gone], pop.other_mult[gone], pop.contact_prop[gone] = fresh
        st.service[gone] = 0.0
        st.rises[gone] = 0.0
        st.log_e[gone] = 0.0
        st.drifting[gone] = False
        present = np.flatnonzero(st.active & (st.period_start < t1))
        mo = Month(
            t0=t0,
            t1=t1,
            calendar_month=edges[k].month - 1,
            label=f"{edges[k].year}-{edges[k].month:02d}",
            present=present,
            a=np.maximum(t0, st.period_start[present]),
            b=np.full(len(present), t1, np.int64),
            felt_service=np.zeros(len(present)),
            felt_price=np.zeros(len(present)),
        )
        out = simulate_month(rng, cfg, _customers_view(pop, st), mo, cat.allowance, cat.reference, [], 0)
        loc, new_price = out.new_prices
        st.price[present[loc]] = new_price
        _update_state(rng, cfg, pop, st, mo, out.service_pain, out.price_pain, out.mismatch)


def _open(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    st: _State,
    idx: np.ndarray,
    day: np.ndarray | int,
    m: int,
    cat: _Catalogue,
) -> None:
    """Start a new period: a plan chosen now, today's list price, a fresh price lock."""
    if len(idx) == 0:
        return
    returning = st.opened[idx]
    fit_p = np.where(returning, cfg.return_plan_fit_probability, cfg.plan_fit_probability)
    plan = _choose_plan(rng, cfg, st.log_need[idx], 1.0, cat)
    other = rng.integers(0, len(cat.names), len(idx)).astype(np.int16)
    plan = np.where(rng.random(len(idx)) < fit_p, plan, other).astype(np.int16)
    st.plan[idx] = plan
    # Intake promotions: a discount off list for the first months, then a rise back to full price.
    promo = rng.random(len(idx)) < cfg.promo_share if cfg.promo_share > 0 else np.zeros(len(idx), dtype=bool)
    st.price[idx] = np.where(promo, np.round(cat.list_prices[plan, m] * (1.0 - cfg.promo_discount), 2), cat.list_prices[plan, m])
    st.promo_end[idx] = np.where(promo, np.asarray(day) + round(cfg.promo_months * 30.44), _NEVER)
    st.start_price[idx] = st.price[idx]
    st.period_start[idx] = day
    st.lock_until[idx] = np.asarray(day) + cfg.price_lock_days
    st.active[idx] = True
    st.opened[idx] = True
    st.next_start[idx] = _NEVER
    st.log_e[idx] = rng.normal(0.0, 0.1, len(idx))
    st.drifting[idx] = False
    st.mismatch[idx] = _expected_mismatch(cfg, st.log_need[idx], plan, cat)


def _hazard(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    pop: _Population,
    st: _State,
    idx: np.ndarray,
    t0: int,
    m: int,
    calendar_month: int,
    cat: _Catalogue,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monthly hazard components of the customers ``idx`` from the state at day ``t0``."""
    run_age = (t0 - st.period_start[idx]).astype(np.float64)
    won = st.ever_churned[idx]
    new = run_age < cfg.new_customer_days
    fragility = np.maximum(
        np.where(new, cfg.new_fragility, 1.0),
        np.where(won, 1.0 + (cfg.winback_fragility - 1.0) * np.exp(-run_age / cfg.winback_fragility_days), 1.0),
    )
    seniority = np.minimum(run_age / (5 * _YEAR), 1.0)
    loyalty = 1.0 - cfg.tenure_protection * seniority
    disengaged = np.maximum(0.0, -st.log_e[idx] - 0.1)
    h_other = (
        cfg.base_hazard
        * np.exp(cfg.base_hazard_drift * m)
        * cfg.seasonality[calendar_month]
        * fragility
        * loyalty
        * pop.other_mult[idx]
        * np.exp(cfg.disengagement_effect * disengaged)
        * _lognormal(rng, cfg.hazard_noise_sigma, len(idx))
    )
    sensitivity = np.where(won, cfg.winback_sensitivity, 1.0)
    plan = st.plan[idx]
    gap = np.maximum(0.0, st.price[idx] / cat.list_prices[plan, m] - 1.0 - cfg.price_gap_tolerance)
    h_price = (
        pop.price_sens[idx]
        * sensitivity
        * (1.0 - cfg.tenure_price_forgiveness * seniority)
        * (st.rises[idx] + cfg.mismatch_weight * st.mismatch[idx] + cfg.price_gap_weight * gap)
    )
    h_service = (
        pop.service_sens[idx]
        * sensitivity
        * np.where(new, cfg.new_service_multiplier, 1.0)
        * (1.0 + cfg.tenure_service_expectation * seniority)
        * np.maximum(st.service[idx] - cfg.service_tolerance, 0.0)
    )
    return h_other, h_price, h_service


def _standardised(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if len(x) > 1 and sd > 0 else np.zeros(len(x))


def _return_propensity(
    cfg: SimulationConfig, st: _State, churners: np.ndarray, churn_day: np.ndarray, base: np.ndarray
) -> np.ndarray:
    """Chance each churner starts again: the cause's base rate, moved by tenure, engagement and service pain at churn,
    each standardised over the month's churners."""
    tenure = np.log1p(np.maximum(churn_day - st.period_start[churners], 0) / 30.44)
    logit = (
        np.log(base / (1.0 - base))
        + cfg.return_tenure_effect * _standardised(tenure)
        + cfg.return_engagement_effect * _standardised(st.log_e[churners])
        - cfg.return_service_pain_effect * _standardised(np.log1p(st.service[churners] * 100.0))
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    # Rescaled so that each cause's mean stays its base rate: the traits decide who comes back, not how many.
    codes = np.unique(base, return_inverse=True)[1]
    mean = np.bincount(codes, weights=p) / np.maximum(np.bincount(codes), 1)
    target = np.bincount(codes, weights=base) / np.maximum(np.bincount(codes), 1)
    return np.clip(p * (target / np.where(mean > 0, mean, 1.0))[codes], 0.0, 1.0)


def _customers_view(pop: _Population, st: _State) -> Customers:
    return Customers(
        region=pop.region,
        contact_prop=pop.contact_prop,
        fault_prone=pop.fault_prone,
        price_sens=pop.price_sens,
        service_sens=pop.service_sens,
        satisfaction=pop.satisfaction,
        rise_month=pop.rise_month,
        period_start=st.period_start,
        promo_end=st.promo_end,
        price=st.price,
        plan=st.plan,
        lock_until=st.lock_until,
        log_need=st.log_need,
        log_e=st.log_e,
    )


def _update_state(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    pop: _Population,
    st: _State,
    mo: Month,
    service_pain: np.ndarray,
    price_pain: np.ndarray,
    mismatch: np.ndarray,
) -> None:
    """Fold the month's events into the pain carried to the next month; pain fades for everyone."""
    st.service *= cfg.service_decay
    st.rises *= cfg.price_decay
    st.service[mo.present] += service_pain
    st.rises[mo.present] += price_pain
    seen = ~np.isnan(mismatch)
    p = mo.present[seen]
    st.mismatch[p] += cfg.mismatch_smoothing * (mismatch[seen] - st.mismatch[p])
    n = len(st.log_e)
    start = ~st.drifting & (rng.random(n) < cfg.disengage_probability)
    stop = st.drifting & (rng.random(n) < cfg.reengage_probability)
    st.drifting = (st.drifting | start) & ~stop
    noise = rng.normal(0, cfg.engagement_noise_sd, n)
    st.log_e = cfg.engagement_reversion * st.log_e - cfg.disengage_drift * st.drifting + noise
    st.log_need += pop.need_trend + cfg.need_walk_sd * rng.standard_normal(n)


# --- frames ---------------------------------------------------------------------------------------------------------


def _customer_ids(rng: np.random.Generator, n: int) -> pd.api.extensions.ExtensionArray:
    """8-digit zero-padded numbers, increasing with position; many start with zeros on purpose."""
    step = max(1, min(50, 90_000_000 // n))
    numbers = 1000 + np.cumsum(rng.integers(1, 2 * step, n))
    return pd.array(pd.Series(numbers).astype(str).str.zfill(8), dtype=ID_DTYPE)


def _strings(values: tuple[str, ...] | list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Text column from integer codes; negative codes are missing."""
    lookup = np.array([*values, None], dtype=object)
    return pd.array(lookup[np.where(codes < 0, len(values), codes)], dtype=ID_DTYPE)


def _seconds(t: np.ndarray) -> np.ndarray:
    return t.astype("datetime64[s]").astype("datetime64[ns]")


def _days(d: np.ndarray) -> np.ndarray:
    out = d.astype("datetime64[D]").astype("datetime64[ns]")
    out[d < 0] = np.datetime64("NaT")
    return out


def _ordered(table: str, columns: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    return frame[TABLES[table].column_names] if table != "customers" else frame


def _assemble_tables(
    ids: pd.api.extensions.ExtensionArray,
    pop: _Population,
    rows: dict[str, list[dict[str, np.ndarray]]],
    period_parts: list[tuple[np.ndarray, ...]],
    cat: _Catalogue,
    incidents: list[tuple[int, int, str]],
    cfg: SimulationConfig,
) -> dict[str, pd.DataFrame]:
    tables: dict[str, pd.DataFrame] = {}
    cust, p_start, p_end, p_plan, p_price = (np.concatenate(c) for c in zip(*period_parts))
    order = np.lexsort((p_start, cust))
    tables["subscriptions"] = _ordered(
        "subscriptions",
        {
            "customer_id": ids.take(cust[order]),
            "start_date": _days(p_start[order]),
            "end_date": _days(p_end[order]),
            "plan": _strings(cat.names, p_plan[order]),
            "monthly_price": p_price[order].astype(np.float64),
        },
    )
    tables["customers"] = pd.DataFrame(
        {
            "customer_id": ids,
            "region": _strings(cfg.regions, pop.region),
            "acquisition_channel": _strings([c[0] for c in ACQUISITION_CHANNELS], pop.channel),
            "payment_method": _strings([c[0] for c in PAYMENT_METHODS], pop.payment),
            "age": pop.age.astype(np.float64),
            "household_size": pop.household,
        }
    )
    channels = list(cfg.channel_weights)
    for table in ("support_contacts", "complaints", "price_changes", "usage", "tech_faults", "surveys"):
        parts = rows.pop(table, [])
        if not parts:
            tables[table] = empty_frame(table)
            continue
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        del parts
        order = np.lexsort((cols["t"], cols["cust"]))
        cols = {k: v[order] for k, v in cols.items()}
        del order
        frame: dict[str, object] = {"customer_id": ids.take(cols.pop("cust"))}
        t = cols.pop("t")
        if table == "support_contacts":
            frame |= {
                "timestamp": _seconds(t),
                "channel": _strings(channels, cols["channel"]),
                "wait_minutes": cols["wait"].astype(np.float64),
                "resolved": cols["resolved"].astype(bool),
                "topic": _strings(CONTACT_TOPICS, cols["topic"]),
            }
        elif table == "complaints":
            frame |= {
                "timestamp": _seconds(t),
                "category": _strings(COMPLAINT_CATEGORIES, cols["category"]),
                "severity": cols["severity"].astype(np.int64),
            }
        elif table == "price_changes":
            frame |= {
                "timestamp": _seconds(t),
                "old_price": cols["old"].astype(np.float64),
                "new_price": cols["new"].astype(np.float64),
                "notice_days": cols["notice"].astype(np.float64),
            }
        elif table == "usage":
            frame |= {
                "month": _seconds(t),
                "used": cols["used"].astype(np.float64),
                "allowance": cols["allowance"].astype(np.float64),
            }
        elif table == "tech_faults":
            frame |= {
                "timestamp": _seconds(t),
                "fault_type": _strings(FAULT_TYPES, cols["type"]),
                "duration_minutes": cols["duration"].astype(np.float64),
                "incident_id": _strings([i[2] for i in incidents], cols["incident"]),
            }
        else:
            frame |= {"timestamp": _seconds(t), "score": cols["score"].astype(np.float64)}
        out = _ordered(table, frame)
        # Two events of one customer clipped to the same last second of a month would be an exact duplicate row,
        # which validation rejects: the extract never holds one.
        tables[table] = out if table == "usage" else out.drop_duplicates(ignore_index=True)
    return {name: tables[name] if name in tables else empty_frame(name) for name in TABLES}  # a log it does not simulate is empty


def _truth_frame(ids: pd.api.extensions.ExtensionArray, parts: list[tuple[np.ndarray, ...]]) -> pd.DataFrame:
    cust, day, cause, prob, propensity, back_day = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((day, cust))
    back = back_day[order]
    return pd.DataFrame(
        {
            "customer_id": ids.take(cust[order]),
            "churn_date": _days(day[order]),
            "cause": _strings(CAUSES, cause[order]),
            "churn_probability": prob[order].astype(np.float64),
            # What the win-back list is measured against: the chance of a return, and the return that happened
            # (its date may lie after the extract: the simulator decided it at the churn).
            "return_propensity": propensity[order].astype(np.float64),
            "return_date": _days(back),
        }
    )


def _oracle_frame(
    ids: pd.api.extensions.ExtensionArray, parts: list[tuple[np.ndarray, ...]], month_starts: pd.DatetimeIndex
) -> pd.DataFrame:
    cust, prob, h_other, h_price, h_service, *crm = (np.concatenate(c) for c in zip(*parts))
    as_of = np.repeat(month_starts.values.astype("datetime64[ns]"), [len(p[0]) for p in parts])
    cause = np.argmax(np.stack([h_other, h_price, h_service]), axis=0)  # same rule as the planted cause
    # in a treatment world: whether a contact that month would backfire for the customer's plan
    extra = {"contact_backfires": crm[0]} if crm else {}
    return pd.DataFrame(
        {
            "customer_id": ids.take(cust),
            "as_of_date": as_of,
            "oracle_probability": prob.astype(np.float64),
            "hazard_other": h_other.astype(np.float64),
            "hazard_price": h_price.astype(np.float64),
            "hazard_service": h_service.astype(np.float64),
            "oracle_cause": _strings(CAUSES, cause),
            **extra,
        }
    )


def generate_regions(
    n_customers: int,
    regions: int,
    seed: int = 0,
    start: str = "2024-01-01",
    months: int = 24,
    config: SimulationConfig | None = None,
) -> Iterator[SyntheticData]:
    """The population as ``regions`` independent networks, one :class:`SyntheticData` at a time: memory follows
    one region (``n_customers / regions`` customers), not the population.

    Region ``k`` is :func:`generate` with a seed derived from (``seed``, ``k``); its customer and incident ids start
    with ``k-``, so ids stay distinct and an incident is shared by the customers of its region, as a network fault is.
    """
    if not 1 <= regions <= n_customers:
        raise ValueError(f"regions must be between 1 and the number of customers ({n_customers}), got {regions}")
    sizes = np.full(regions, n_customers // regions)
    sizes[: n_customers % regions] += 1
    for k, size in enumerate(sizes):
        region_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        data = generate(int(size), seed=region_seed, start=start, months=months, config=config)
        prefix = f"{k}-"
        tables = {}
        for name, frame in data.tables.items():
            changes = {"customer_id": prefix + frame["customer_id"]}
            if "incident_id" in frame:
                changes["incident_id"] = (prefix + frame["incident_id"]).where(frame["incident_id"].notna())
            tables[name] = frame.assign(**changes)
        yield SyntheticData(
            tables=tables,
            truth=data.truth.assign(customer_id=prefix + data.truth["customer_id"]),
            oracle=data.oracle.assign(customer_id=prefix + data.oracle["customer_id"]),
            start=data.start,
            end=data.end,
        )
