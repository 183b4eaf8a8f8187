"""One simulated month of events for every customer present in it, vectorised over customers.

Each generator draws Poisson counts per customer, expands them with ``np.repeat`` and places timestamps inside the
customer's active interval ``[a, b)`` of the month, so no event ever falls outside a subscription period. Times are
integer seconds since the epoch and customers are positions in the population arrays; the caller turns them into
canonical frames once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from churnml.schemas import COMPLAINT_CATEGORIES, FAULT_TYPES
from churnml.synth.config import BASE_TOPIC_WEIGHTS, CONTACT_TOPICS, SimulationConfig

DAY = 86_400  # seconds

_BILLING = CONTACT_TOPICS.index("billing")
_TECHNICAL = CONTACT_TOPICS.index("technical")
_CAT_BILLING = COMPLAINT_CATEGORIES.index("billing")

# P(complaint category | contact topic), rows in CONTACT_TOPICS order, columns in COMPLAINT_CATEGORIES order.
_COMPLAINT_MIX = np.array(
    [
        [1.00, 0.00, 0.00, 0.00, 0.00],  # billing
        [0.00, 0.25, 0.75, 0.00, 0.00],  # technical
        [0.00, 0.80, 0.00, 0.05, 0.15],  # account
        [0.00, 0.20, 0.00, 0.40, 0.40],  # other
    ]
)
_COMPLAINT_CUM = np.cumsum(_COMPLAINT_MIX, axis=1)

# Individual faults: (share, median minutes) per type in FAULT_TYPES order; outages are mostly shared incidents.
_FAULT_SHARE = np.array([0.05, 0.25, 0.35, 0.25, 0.10])
_FAULT_MEDIAN_MIN = np.array([120.0, 240.0, 720.0, 45.0, 90.0])
_OUTAGE = FAULT_TYPES.index("outage")
_DEGRADATION = FAULT_TYPES.index("degradation")


@dataclass
class Month:
    """Who is present in a month and what the simulator knew about them at its start."""

    t0: int  # first day (days since epoch)
    t1: int  # first day of the next month
    calendar_month: int  # 0 = January
    label: str  # "YYYY-MM", for incident ids
    present: np.ndarray  # population positions active at some time in the month
    a: np.ndarray  # start of each one's active interval (day)
    b: np.ndarray  # end, exclusive (day): churn date or next month
    felt_service: np.ndarray  # service hazard at the start of the month (0 for mid-month joiners)
    felt_price: np.ndarray
    index: int = -1  # months since the first simulated month (the shocks' dates)

    @property
    def days(self) -> int:
        return self.t1 - self.t0

    @property
    def exposure(self) -> np.ndarray:
        return (self.b - self.a) / self.days


@dataclass
class Customers:
    """The static population and mutable state arrays the month generator reads (see simulate)."""

    region: np.ndarray
    contact_prop: np.ndarray
    fault_prone: np.ndarray
    price_sens: np.ndarray
    service_sens: np.ndarray
    satisfaction: np.ndarray
    rise_month: np.ndarray
    period_start: np.ndarray  # day the current period started
    promo_end: np.ndarray  # day an intake promotion expires into a rise; far future without one
    price: np.ndarray
    plan: np.ndarray
    lock_until: np.ndarray
    log_need: np.ndarray
    log_e: np.ndarray


@dataclass
class MonthOutput:
    """Rows per table (columns as arrays) and per-present-customer pain increments."""

    rows: dict[str, dict[str, np.ndarray]]
    service_pain: np.ndarray
    price_pain: np.ndarray
    mismatch: np.ndarray  # this month's plan mismatch, NaN where the month was too short to judge
    new_prices: tuple[np.ndarray, np.ndarray]  # (present positions, price) after this month's changes
    incidents: list[tuple[int, int, str]] = field(default_factory=list)  # (region, start second, id)


def _uniform_seconds(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Random instants in ``[a, b)`` days, as seconds."""
    span = (b - a) * DAY
    return a * DAY + (rng.random(len(a)) * span).astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _after(rng: np.random.Generator, t: np.ndarray, mean_days: float) -> np.ndarray:
    """Instants an exponential delay after ``t``, at least a few minutes later."""
    return t + 300 + (rng.exponential(mean_days, len(t)) * DAY).astype(np.int64)


def _yearly_rise_due(cfg: SimulationConfig, cu: Customers, mo: Month, eff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Who is due this month's yearly rise under the configured schedule, and on which day it takes effect."""
    P = mo.present
    if cfg.rise_schedule == "wave":  # one letter for the whole base: the same day for everyone present then
        return np.full(len(P), (mo.calendar_month + 1) in cfg.wave_months), np.full(len(P), mo.t0, np.int64)
    if cfg.rise_schedule == "anniversary":
        start = cu.period_start[P]
        start_month = start.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        return (start_month == mo.calendar_month) & (mo.t0 - start >= 330), eff
    return cu.rise_month[P] == mo.calendar_month, eff


def _price_changes(rng: np.random.Generator, cfg: SimulationConfig, cu: Customers, mo: Month) -> dict[str, np.ndarray]:
    P, n = mo.present, len(mo.present)
    chance = rng.random(n) < cfg.annual_rise_probability
    individual = rng.random(n) < cfg.individual_rise_rate
    cut = rng.random(n) < cfg.price_cut_rate
    due, eff = _yearly_rise_due(cfg, cu, mo, mo.t0 + rng.integers(0, mo.days, n))
    annual = due & chance
    yearly_pct = rng.uniform(cfg.annual_rise_min, cfg.annual_rise_max, n)
    if cfg.rise_schedule == "wave" and n:
        yearly_pct[:] = yearly_pct[0]  # one size for the whole wave
    pct = np.where(
        annual,
        yearly_pct,
        np.where(individual, rng.uniform(cfg.individual_rise_min, cfg.individual_rise_max, n),
                 -rng.uniform(cfg.price_cut_min, cfg.price_cut_max, n)),
    )
    rise = cfg.shocks
    if rise.plan_rise_month is not None and mo.index == rise.plan_rise_month:  # a list-price rise to one plan, on one day
        listed = cu.plan[P] == rise.plan_rise_plan
        eff = np.where(listed, mo.t0 + 1, eff)
        pct = np.where(listed, rise.plan_rise_pct, pct)
        annual = annual | listed
    # A change needs an unlocked price and must take effect while the customer is still here.
    ok = (annual | individual | cut) & (eff >= mo.a) & (eff < mo.b) & (cu.lock_until[P] <= eff)
    # An intake promotion expires into a rise back to full price on its own day, lock or not.
    promo_end = cu.promo_end[P]
    expiring = (promo_end >= mo.a) & (promo_end < mo.b)
    eff = np.where(expiring, promo_end, eff)
    pct = np.where(expiring, 1.0 / (1.0 - cfg.promo_discount) - 1.0, pct)
    ok |= expiring
    sel = np.flatnonzero(ok)
    k = len(sel)
    old = cu.price[P[sel]]
    new = np.round(old * (1.0 + pct[sel]), 2)
    u = rng.random(k)
    notice = np.where(
        u < cfg.notice_good_share,
        rng.integers(30, 61, k),
        np.where(u < cfg.notice_good_share + cfg.notice_short_share, rng.integers(1, 14, k), 0),
    ).astype(np.float64)
    recorded = np.where(rng.random(k) < cfg.notice_unrecorded_share, np.nan, notice)
    return {"loc": sel, "eff": eff[sel], "old": old, "new": new, "notice": notice, "recorded": recorded}


def _individual_faults(
    rng: np.random.Generator, cfg: SimulationConfig, cu: Customers, mo: Month
) -> dict[str, np.ndarray]:
    counts = rng.poisson(cfg.fault_rate * cu.fault_prone[mo.present] * mo.exposure)
    loc = np.repeat(np.arange(len(mo.present)), counts)
    t = _uniform_seconds(rng, mo.a[loc], mo.b[loc])
    ftype = rng.choice(len(FAULT_TYPES), len(loc), p=_FAULT_SHARE)
    duration = np.round(_FAULT_MEDIAN_MIN[ftype] * np.exp(rng.normal(0.0, 1.0, len(loc))), 1)
    return {"loc": loc, "t": t, "type": ftype, "duration": duration, "incident": np.full(len(loc), -1, np.int32)}


def _shared_incidents(
    rng: np.random.Generator, cfg: SimulationConfig, cu: Customers, mo: Month, first_code: int
) -> tuple[dict[str, np.ndarray], list[tuple[int, int, str]]]:
    """Regional outages: one start instant, a large share of the region's present customers hit within hours."""
    region_p = cu.region[mo.present]
    a_s, b_s = mo.a * DAY, mo.b * DAY
    parts: list[dict[str, np.ndarray]] = []
    incidents: list[tuple[int, int, str]] = []
    struck: list[tuple[int, float | None]] = [
        (int(r), None) for r in np.flatnonzero(rng.random(len(cfg.regions)) < cfg.incident_probability)
    ]
    wave = cfg.shocks
    if wave.incident_wave_month is not None and mo.index == wave.incident_wave_month:
        struck += [(wave.incident_wave_region, wave.incident_wave_share)] * wave.incident_wave_outages
    for r, wave_share in struck:  # a handful of regions per month, never customers
        start = mo.t0 * DAY + int(rng.integers(0, mo.days * DAY))
        share = rng.uniform(cfg.incident_share_min, cfg.incident_share_max) if wave_share is None else wave_share
        minutes = cfg.incident_median_minutes * float(np.exp(rng.normal(0.0, 0.8)))
        ftype = _OUTAGE if rng.random() < 0.75 else _DEGRADATION
        code = first_code + len(incidents)
        incidents.append((int(r), start, f"INC-{mo.label}-{len(incidents) + 1}"))
        members = np.flatnonzero((region_p == r) & (a_s <= start) & (start < b_s))
        hit = members[rng.random(len(members)) < share]
        t = np.minimum(start + rng.integers(0, 3 * 3600, len(hit)), b_s[hit] - 1)
        parts.append(
            {
                "loc": hit,
                "t": t,
                "type": np.full(len(hit), ftype),
                "duration": np.round(minutes * rng.uniform(0.7, 1.0, len(hit)), 1),
                "incident": np.full(len(hit), code, np.int32),
            }
        )
    return _concat(parts, ("loc", "t", "type", "duration", "incident")), incidents


def _concat(parts: list[dict[str, np.ndarray]], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not parts:
        return {k: np.empty(0, np.int64) for k in keys}
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _waits(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    region: np.ndarray,
    t: np.ndarray,
    channel: np.ndarray,
    load: float,
    windows: list[tuple[int, int, str]],
) -> np.ndarray:
    medians = np.array(list(cfg.wait_median_minutes[c] for c in cfg.channel_weights))
    wait = medians[channel] * load * np.exp(cfg.wait_sigma * rng.standard_normal(len(t)))
    horizon = cfg.incident_load_days * DAY
    for r, start, _ in windows:  # contacts snowball after an incident: the whole region waits longer
        hit = (region == r) & (t >= start) & (t < start + horizon)
        wait[hit] *= 1.0 + (cfg.incident_wait_multiplier - 1.0) * np.exp(-(t[hit] - start) / (horizon / 3))
    return np.round(np.minimum(wait, cfg.max_wait_minutes), 1)


def _base_topics(rng: np.random.Generator, cfg: SimulationConfig, price_sens: np.ndarray) -> np.ndarray:
    """Topics of everyday contacts: the billing share grows with the caller's price sensitivity (odds times
    ``sensitivity ** billing_contact_sensitivity``), so customers who watch their bill show it in the topic mix."""
    weights = np.array(BASE_TOPIC_WEIGHTS, dtype=float)
    weights /= weights.sum()
    odds = weights[_BILLING] / (1.0 - weights[_BILLING]) * price_sens**cfg.billing_contact_sensitivity
    others = np.delete(np.arange(len(weights)), _BILLING)
    other_topic = others[rng.choice(len(others), len(price_sens), p=weights[others] / weights[others].sum())]
    return np.where(rng.random(len(price_sens)) < odds / (1.0 + odds), _BILLING, other_topic)


def _contacts(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    cu: Customers,
    mo: Month,
    faults: dict[str, np.ndarray],
    changes: dict[str, np.ndarray],
    windows: list[tuple[int, int, str]],
) -> dict[str, np.ndarray]:
    P = mo.present
    prop = cu.contact_prop[P]
    b_s = mo.b * DAY
    # Baseline contacts about anything.
    counts = rng.poisson(cfg.contact_rate * prop * mo.exposure)
    base_loc = np.repeat(np.arange(len(P)), counts)
    base_t = _uniform_seconds(rng, mo.a[base_loc], mo.b[base_loc])
    base_topic = _base_topics(rng, cfg, cu.price_sens[P[base_loc]])
    # Technical contacts follow faults, many more after a shared incident; customers who mind service call more.
    shared = faults["incident"] >= 0
    f_cust = P[faults["loc"]]
    rate = (
        np.where(shared, cfg.contacts_per_incident_hit, cfg.contacts_per_fault)
        * prop[faults["loc"]]
        * cu.service_sens[f_cust] ** cfg.fault_contact_sensitivity
    )
    c = rng.poisson(rate)
    f_loc = np.repeat(faults["loc"], c)
    f_t = _after(rng, np.repeat(faults["t"], c), 0.4)
    f_inc = np.repeat(shared, c)
    # Billing contacts follow price rises, more when the rise came without notice and from price-sensitive customers.
    rises = changes["new"] > changes["old"]
    r_loc0 = changes["loc"][rises]
    c = rng.poisson(
        cfg.contacts_per_rise
        * prop[r_loc0]
        * cu.price_sens[P[r_loc0]] ** cfg.rise_contact_sensitivity
        * (1.0 + (changes["notice"][rises] == 0))
    )
    r_loc = np.repeat(r_loc0, c)
    r_t = _after(rng, np.repeat(changes["eff"][rises] * DAY, c), 3.0)

    loc = np.concatenate([base_loc, f_loc, r_loc])
    t = np.concatenate([base_t, f_t, r_t])
    topic = np.concatenate([base_topic, np.full(len(f_loc), _TECHNICAL), np.full(len(r_loc), _BILLING)])
    about_incident = np.concatenate([np.zeros(len(base_loc), bool), f_inc, np.zeros(len(r_loc), bool)])
    keep = t < b_s[loc]
    loc, t, topic, about_incident = loc[keep], t[keep], topic[keep], about_incident[keep]

    load = float(np.exp(cfg.monthly_load_sigma * rng.standard_normal()))
    channel_p = np.array(list(cfg.channel_weights.values()), dtype=float)
    channel_p /= channel_p.sum()
    batches: list[dict[str, np.ndarray]] = []
    channel = rng.choice(len(channel_p), len(loc), p=channel_p)
    repeat = np.zeros(len(loc), bool)
    for round_ in range(cfg.repeat_rounds + 1):
        if round_ > 0:
            # Unresolved problems come back within days, mostly through the same channel.
            prev = batches[-1]
            go = np.flatnonzero(~prev["resolved"] & (rng.random(len(prev["loc"])) < cfg.repeat_probability))
            loc, about_incident, topic = prev["loc"][go], prev["incident"][go], prev["topic"][go]
            t = _after(rng, prev["t"][go], cfg.repeat_mean_days)
            switch = rng.random(len(go)) < 0.3
            channel = np.where(switch, rng.choice(len(channel_p), len(go), p=channel_p), prev["channel"][go])
            keep = t < b_s[loc]
            loc, about_incident, topic = loc[keep], about_incident[keep], topic[keep]
            t, channel = t[keep], channel[keep]
            repeat = np.ones(len(loc), bool)
        wait = _waits(rng, cfg, cu.region[P[loc]], t, channel, load, windows)
        logit = (
            cfg.resolve_base
            - cfg.resolve_wait_slope * np.log1p(wait / 15.0)
            - cfg.resolve_incident_penalty * about_incident
        )
        resolved = rng.random(len(loc)) < _sigmoid(logit)
        batches.append(
            {"loc": loc, "t": t, "channel": channel, "wait": wait, "resolved": resolved, "topic": topic,
             "incident": about_incident, "repeat": repeat}
        )
        if len(loc) == 0:
            break
    return _concat(batches, ("loc", "t", "channel", "wait", "resolved", "topic", "incident", "repeat"))


def _complaints(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    cu: Customers,
    mo: Month,
    contacts: dict[str, np.ndarray],
    changes: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    P = mo.present
    b_s = mo.b * DAY
    loc, wait, resolved, topic = contacts["loc"], contacts["wait"], contacts["resolved"], contacts["topic"]
    sens = np.where(topic == _BILLING, cu.price_sens[P[loc]], cu.service_sens[P[loc]])
    p = cfg.complaint_base + cfg.complaint_unresolved * ~resolved + cfg.complaint_long_wait * (wait > 30)
    p = p * np.sqrt(sens)
    go = np.flatnonzero(rng.random(len(loc)) < np.clip(p, 0.0, 1.0))
    c_loc = loc[go]
    c_t = np.minimum(contacts["t"][go] + (rng.random(len(go)) * 2 * DAY).astype(np.int64), b_s[c_loc] - 1)
    c_cat = (rng.random(len(go))[:, None] > _COMPLAINT_CUM[topic[go]]).sum(axis=1)
    c_sev = 1 + np.round(
        0.8 * np.log1p(wait[go] / 20.0)
        + 1.0 * ~resolved[go]
        + 0.5 * contacts["repeat"][go]
        + rng.normal(0, 0.7, len(go))
    )
    # Billing complaints after rises, without a contact in between (letters, the app).
    rises = np.flatnonzero(changes["new"] > changes["old"])
    r_loc = changes["loc"][rises]
    notice = changes["notice"][rises]
    p = cfg.rise_complaint_probability * np.sqrt(cu.price_sens[P[r_loc]]) * (1.0 + (notice < 14))
    go = np.flatnonzero(rng.random(len(rises)) < np.clip(p, 0.0, 1.0))
    r_loc, rises, notice = r_loc[go], rises[go], notice[go]
    r_t = changes["eff"][rises] * DAY + (rng.random(len(go)) * 10 * DAY).astype(np.int64)
    keep = r_t < b_s[r_loc]
    rel = changes["new"][rises] / changes["old"][rises] - 1.0
    r_sev = 1 + np.round(15 * rel + (notice == 0) + rng.normal(0, 0.7, len(go)))
    return {
        "loc": np.concatenate([c_loc, r_loc[keep]]),
        "t": np.concatenate([c_t, r_t[keep]]),
        "category": np.concatenate([c_cat, np.full(int(keep.sum()), _CAT_BILLING)]),
        "severity": np.clip(np.concatenate([c_sev, r_sev[keep]]), 1, 5).astype(np.int64),
    }


def _surveys(rng: np.random.Generator, cfg: SimulationConfig, cu: Customers, mo: Month) -> dict[str, np.ndarray]:
    P = mo.present
    go = np.flatnonzero(rng.random(len(P)) < cfg.survey_rate)
    t = _uniform_seconds(rng, mo.a[go], mo.b[go])
    # The score reads the pain the customer feels (their sensitivity included), so it reveals more than the logs.
    score = (
        cfg.survey_base_score
        + cu.satisfaction[P[go]]
        - 3.0 * np.tanh(mo.felt_service[go] / 0.04)
        - 1.5 * np.tanh(mo.felt_price[go] / 0.04)
        + rng.normal(0.0, cfg.survey_noise_sd, len(go))
    )
    return {"loc": go, "t": t, "score": np.clip(np.round(score), 0, 10)}


def _usage(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    cu: Customers,
    mo: Month,
    allowance: np.ndarray,
    reference: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    P = mo.present
    f = mo.exposure
    sigma = cfg.usage_noise_sigma
    used = np.round(
        np.exp(cu.log_need[P] + cu.log_e[P]) * f * np.exp(sigma * rng.standard_normal(len(P)) - sigma**2 / 2), 2
    )
    plan = cu.plan[P]
    ratio = used / (reference[plan] * f)
    mismatch = np.clip(ratio - 1.0, 0.0, 2.0) + cfg.unused_weight * np.clip(
        (cfg.unused_threshold - ratio) / cfg.unused_threshold, 0.0, 1.0
    )
    mismatch[f < 0.3] = np.nan  # a few days of usage say little about fit
    return {"loc": np.arange(len(P)), "used": used, "allowance": allowance[plan]}, mismatch


def simulate_month(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    cu: Customers,
    mo: Month,
    allowance: np.ndarray,
    reference: np.ndarray,
    windows: list[tuple[int, int, str]],
    first_incident_code: int,
) -> MonthOutput:
    """All events of one month; ``windows`` are earlier incidents whose wait surge may reach into this month."""
    n = len(mo.present)
    changes = _price_changes(rng, cfg, cu, mo)
    own = _individual_faults(rng, cfg, cu, mo)
    shared, incidents = _shared_incidents(rng, cfg, cu, mo, first_incident_code)
    faults = _concat([own, shared], ("loc", "t", "type", "duration", "incident"))
    contacts = _contacts(rng, cfg, cu, mo, faults, changes, windows + incidents)
    complaints = _complaints(rng, cfg, cu, mo, contacts, changes)
    surveys = _surveys(rng, cfg, cu, mo)
    usage, mismatch = _usage(rng, cfg, cu, mo, allowance, reference)

    def per_customer(loc: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(loc, weights=weights, minlength=n).astype(np.float64)

    wait_excess = np.maximum(0.0, np.log(np.maximum(contacts["wait"], 1e-3) / cfg.long_wait_minutes))
    billing = complaints["category"] == _CAT_BILLING
    service_pain = (
        cfg.long_wait_weight * per_customer(contacts["loc"], wait_excess)
        + cfg.unresolved_weight * per_customer(contacts["loc"][~contacts["resolved"]])
        + cfg.repeat_weight * per_customer(contacts["loc"][contacts["repeat"]])
        + cfg.complaint_weight / 3.0 * per_customer(complaints["loc"][~billing], complaints["severity"][~billing])
        + cfg.fault_weight * per_customer(faults["loc"][faults["incident"] < 0])
        + cfg.incident_weight * per_customer(faults["loc"][faults["incident"] >= 0])
    )
    rel = changes["new"] / changes["old"] - 1.0
    felt = np.where(
        rel > 0,
        rel * (1.0 + cfg.short_notice_extra * ((changes["notice"] > 0) & (changes["notice"] < 14))
               + cfg.no_notice_extra * (changes["notice"] == 0)),
        0.0,
    )
    price_pain = cfg.rise_weight * per_customer(changes["loc"], felt) + cfg.billing_complaint_weight / 3.0 * (
        per_customer(complaints["loc"][billing], complaints["severity"][billing])
    )

    P = mo.present
    rows = {
        "support_contacts": {
            "cust": P[contacts["loc"]], "t": contacts["t"], "channel": contacts["channel"], "wait": contacts["wait"],
            "resolved": contacts["resolved"], "topic": contacts["topic"],
        },
        "complaints": {"cust": P[complaints["loc"]], "t": complaints["t"], "category": complaints["category"],
                       "severity": complaints["severity"]},
        "price_changes": {"cust": P[changes["loc"]], "t": changes["eff"] * DAY, "old": changes["old"],
                          "new": changes["new"], "notice": changes["recorded"]},
        "usage": {"cust": P, "t": np.full(n, mo.t0 * DAY, np.int64), "used": usage["used"],
                  "allowance": usage["allowance"]},
        "tech_faults": {"cust": P[faults["loc"]], "t": faults["t"], "type": faults["type"],
                        "duration": faults["duration"], "incident": faults["incident"]},
        "surveys": {"cust": P[surveys["loc"]], "t": surveys["t"], "score": surveys["score"]},
    }
    return MonthOutput(
        rows=rows,
        service_pain=service_pain,
        price_pain=price_pain,
        mismatch=mismatch,
        new_prices=(changes["loc"], changes["new"]),
        incidents=incidents,
    )
