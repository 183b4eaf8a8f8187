"""Every knob of the churn simulator, typed, with defaults that give plausible marginals.

Rates are per customer and month unless stated otherwise. Hazard weights are in units of monthly churn
probability per unit of pain, so a weight of 0.05 means one unit of pain adds five points of monthly hazard for a
customer of average sensitivity.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Static attribute catalogues: (value, population weight, multiplier on the `other` hazard, on the price sensitivity,
# on the service sensitivity). What drives churn is partly written in who the customer is, as in real portfolios:
# customers who shop online or through partners' promotions compare prices and leave for a better deal; store
# customers chose a person to talk to and mind the service more; customers who read an invoice every month notice
# every rise, while direct-debit payers barely look at the bill and rarely leave on impulse.
ACQUISITION_CHANNELS: tuple[tuple[str, float, float, float, float], ...] = (
    ("online", 0.40, 1.10, 1.50, 0.80),
    ("store", 0.30, 0.85, 0.55, 1.60),
    ("telesales", 0.18, 1.10, 1.10, 0.95),
    ("partner", 0.12, 1.25, 1.70, 0.75),
)
PAYMENT_METHODS: tuple[tuple[str, float, float, float, float], ...] = (
    ("direct_debit", 0.45, 0.85, 0.60, 1.00),
    ("card", 0.35, 1.00, 1.10, 1.00),
    ("invoice", 0.12, 1.30, 2.20, 1.15),
    ("wallet", 0.08, 1.15, 1.50, 0.90),
)
CONTACT_TOPICS: tuple[str, ...] = ("billing", "technical", "account", "other")
BASE_TOPIC_WEIGHTS: tuple[float, ...] = (0.30, 0.20, 0.35, 0.15)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PlanSpec(_Model):
    """One plan of the catalogue."""

    name: str = Field(min_length=1)
    allowance_gb: float | None = Field(gt=0, description="Monthly data allowance in GB; None = unlimited.")
    list_price: float = Field(gt=0, description="Monthly list price new customers pay at the start of the window.")


_DEFAULT_PLANS = (
    PlanSpec(name="basic_5gb", allowance_gb=5.0, list_price=15.99),
    PlanSpec(name="plus_20gb", allowance_gb=20.0, list_price=24.99),
    PlanSpec(name="max_50gb", allowance_gb=50.0, list_price=34.99),
    PlanSpec(name="unlimited", allowance_gb=None, list_price=44.99),
)


class Shocks(_Model):
    """Changes on known dates, so that what monitoring detects can be measured: each is off by default, and its
    month counts from the first simulated month (0). Nothing else about the world changes."""

    incident_wave_month: int | None = Field(None, ge=0, description="Month of an incident wave: one region struck by several outages.")
    incident_wave_region: int = Field(0, ge=0, description="Index of the struck region in `regions`.")
    incident_wave_outages: int = Field(3, ge=1, le=20, description="Outages in the wave's month.")
    incident_wave_share: float = Field(0.8, ge=0, le=1, description="Share of the region's customers each outage hits.")
    plan_rise_month: int | None = Field(None, ge=0, description="Month of a list-price rise to every unlocked customer of one plan.")
    plan_rise_plan: int = Field(0, ge=0, description="Index of the plan in `plans`.")
    plan_rise_pct: float = Field(0.15, gt=0, le=2, description="Size of that rise (0.15: +15%).")
    feed_stop_month: int | None = Field(None, ge=0, description="Month from which one log's rows stop arriving (the export broke).")
    feed_stop_table: Literal["support_contacts", "complaints", "price_changes", "usage", "tech_faults", "surveys"] = "surveys"


class Treatments(_Model):
    """The simulator plays the CRM (off by default): on the first of each month it flags the riskiest customers by a
    noisy view of their true risk, holds out the same control group the nightly job draws (a keyed hash of customer
    id and date), and applies the playbook to the rest with some compliance. A remedy cuts the hazard of the family
    it addresses (an offer: price; a call: service) for a few months, so a cause-matched remedy helps and a
    mismatched one barely does; a share of contacted customers reacts badly. Truth records every flagged customer's
    treatment and its true effect."""

    enabled: bool = Field(False, description="Play the CRM; off leaves the world exactly as without this section.")
    flag_fraction: float = Field(0.10, gt=0, le=1, description="The CRM's capacity: the share of active customers flagged each month.")
    ranking_noise: float = Field(0.6, ge=0, description="Lognormal sigma on the true risk the CRM ranks by (a model is not the oracle).")
    control_fraction: float = Field(0.05, ge=0, lt=1, description="As `flagging.control_fraction`: flagged customers held out.")
    control_key: str = Field("churnml-control", min_length=1, description="As `flagging.control_key`.")
    control_hold_days: int = Field(60, ge=0, description="As `flagging.control_hold_days`: a control customer stays held out this long.")
    compliance: float = Field(0.8, ge=0, le=1, description="Share of the flagged, non-control customers the CRM really treats.")
    cause_error: float = Field(0.25, ge=0, le=1, description="Share of treated customers given the other family's remedy (the CRM misread the cause).")
    remedy_effect: float = Field(0.6, ge=0, le=1, description="Share of the addressed family's hazard a remedy removes while it lasts.")
    effect_months: int = Field(3, ge=1, le=24, description="Months a remedy keeps working, from the month it is applied.")
    backfire_share: float = Field(0.05, ge=0, le=1, description="Share of contacted customers who react badly to being contacted.")
    backfire_effect: float = Field(0.5, ge=0, description="Their `other` hazard grows by this share while the remedy lasts.")
    misfit_backfire_effect: float = Field(
        0.0, ge=0, description="Contacting a customer whose plan does not fit their usage (smoothed plan mismatch at least "
        "`misfit_level`) raises all their hazard by this share while the remedy lasts, instead of the remedy's cut: reminded "
        "of what they overpay, they look around. 0: off. Ascarza, Iyengar & Schleicher (2016), a field experiment with "
        "overspending mobile customers: 10.0% of those contacted left within three months against 6.4% of those left alone (0.56).")
    misfit_level: float = Field(0.25, ge=0, description="Smoothed plan mismatch (share over the allowance, or weighted unused share) from which a plan does not fit.")
    offer_cost: float = Field(40.0, ge=0, description="Cost of a retention offer.")
    call_cost: float = Field(15.0, ge=0, description="Cost of a senior manager's call.")


class SimulationConfig(_Model):
    """Parameters of :func:`churnml.synth.generate`; the defaults give about 2% monthly churn split across causes
    (service about 47%, price about 31%, other about 22%; service leads among long-standing customers, `other` among
    new ones), with win-backs and a few shared incidents a month."""

    # --- population -------------------------------------------------------------------------------------------
    initial_active_share: float = Field(0.75, gt=0, le=1, description="Share of customers already active at `start`.")
    history_years: float = Field(6.0, gt=0, description="Oldest start date of the initial customers, in years before `start`.")
    tenure_scale_years: float = Field(
        10.0, gt=0, description="Initial tenures are exponential with this mean, cut at `history_years`: more recent than old."
    )
    historic_winback_share: float = Field(
        0.06, ge=0, le=1, description="Share of initial customers who churned and came back before `start`."
    )
    regions: tuple[str, ...] = Field(
        ("north", "south", "east", "west", "central", "coast", "valley", "metro"),
        min_length=1,
        description="Region names; shared incidents strike one region at a time.",
    )
    region_weights: tuple[float, ...] = Field(
        (0.22, 0.16, 0.14, 0.12, 0.11, 0.10, 0.08, 0.07), description="Population share of each region."
    )
    age_mean: float = Field(44.0, gt=18, description="Mean customer age in years (normal, clipped to 18..90).")
    age_sd: float = Field(14.0, gt=0)

    burn_in_months: int = Field(
        12, ge=0, description="Months lived before `start` without records, so pain and prices start in a steady state."
    )

    # --- plans and usage --------------------------------------------------------------------------------------
    plans: tuple[PlanSpec, ...] = Field(_DEFAULT_PLANS, min_length=1, description="Plan catalogue.")
    usage_need_median_gb: float = Field(12.0, gt=0, description="Median monthly data need (lognormal).")
    usage_need_sigma: float = Field(0.9, gt=0, description="Log-sd of the data need across customers.")
    need_trend_mean: float = Field(0.005, description="Mean monthly log growth of a customer's need.")
    need_trend_sd: float = Field(0.02, ge=0, description="Spread of the need trend across customers.")
    need_walk_sd: float = Field(0.03, ge=0, description="Monthly random-walk noise of the log need.")
    usage_noise_sigma: float = Field(0.2, ge=0, description="Month-to-month log noise of the usage volume.")
    plan_fit_probability: float = Field(
        0.65, ge=0, le=1, description="Chance a joining customer picks the plan that fits their need (else a random one)."
    )
    return_plan_fit_probability: float = Field(
        0.75, ge=0, le=1, description="Same for a won-back customer, whose new plan is chosen afresh."
    )
    plan_fit_headroom: float = Field(1.15, ge=1, description="A plan fits when allowance >= need x headroom.")
    unused_threshold: float = Field(0.5, gt=0, lt=1, description="Using less than this share of the allowance is paying for unused.")
    unused_weight: float = Field(0.3, ge=0, description="Pain of paying for unused relative to overage.")
    unlimited_reference_gb: float | None = Field(
        None, gt=0, description="Allowance an unlimited plan is judged against for unused pain; None = largest finite."
    )

    # --- engagement ---------------------------------------------------------------------------------------------
    disengage_probability: float = Field(0.015, ge=0, le=1, description="Monthly chance an engaged customer starts drifting away.")
    reengage_probability: float = Field(0.08, ge=0, le=1, description="Monthly chance a drifting customer stops drifting.")
    disengage_drift: float = Field(0.2, ge=0, description="Monthly log drop of engagement while drifting.")
    engagement_reversion: float = Field(0.9, ge=0, le=1, description="Persistence of log engagement month to month.")
    engagement_noise_sd: float = Field(0.07, ge=0)

    # --- prices -------------------------------------------------------------------------------------------------
    annual_rise_probability: float = Field(0.6, ge=0, le=1, description="Chance of a rise in the customer's cohort month each year.")
    annual_rise_min: float = Field(0.04, ge=0)
    annual_rise_max: float = Field(0.10, ge=0)
    individual_rise_rate: float = Field(0.008, ge=0, le=1, description="Monthly chance of an individual rise (e.g. discount ends).")
    individual_rise_min: float = Field(0.05, ge=0)
    individual_rise_max: float = Field(0.25, ge=0)
    price_cut_rate: float = Field(0.003, ge=0, le=1, description="Monthly chance of a retention discount.")
    price_cut_min: float = Field(0.05, ge=0, lt=1)
    price_cut_max: float = Field(0.15, ge=0, lt=1)
    price_lock_days: int = Field(180, ge=0, description="No price change during the first days of a period.")
    list_change_min: float = Field(-0.04, gt=-1, description="Yearly change of list prices (each January), lower bound.")
    list_change_max: float = Field(0.02, gt=-1, description="Upper bound; list prices drift down so loyal customers pay more.")
    historic_rise_probability: float = Field(0.6, ge=0, le=1, description="Rises per past year of tenure, for initial prices.")
    historic_rise_size: float = Field(0.07, ge=0, description="Size of each historic rise.")
    rise_schedule: Literal["cohort", "wave", "anniversary"] = Field(
        "cohort",
        description="When yearly rises come: `cohort` in a month drawn per customer, `wave` company-wide on the first "
        "of each month in `wave_months` (one size for everyone), `anniversary` in the month the customer's current "
        "subscription started, from its first anniversary on.",
    )
    wave_months: tuple[int, ...] = Field((3, 9), min_length=1, description="Calendar months (1..12) of rise waves.")
    promo_share: float = Field(0.0, ge=0, le=1, description="Share of new subscriptions that start on an intake promotion.")
    promo_discount: float = Field(0.3, ge=0, lt=1, description="Promotional discount off the list price.")
    promo_months: int = Field(6, ge=1, description="Months until the promotion expires into a rise back to full price.")
    notice_good_share: float = Field(0.55, ge=0, le=1, description="Rises announced 30..60 days ahead.")
    notice_short_share: float = Field(0.30, ge=0, le=1, description="Rises announced 1..13 days ahead; the rest get no notice.")
    notice_unrecorded_share: float = Field(0.15, ge=0, le=1, description="Share of rises whose notice_days is not recorded (NaN).")

    # --- service ------------------------------------------------------------------------------------------------
    contact_rate: float = Field(0.22, ge=0, description="Baseline support contacts per customer-month.")
    contact_propensity_sigma: float = Field(0.7, ge=0, description="Log-sd of the personal contact propensity.")
    channel_weights: dict[str, float] = Field(
        {"phone": 0.45, "chat": 0.30, "email": 0.15, "store": 0.10}, min_length=1, description="Contact channel mix."
    )
    wait_median_minutes: dict[str, float] = Field(
        {"phone": 4.0, "chat": 2.0, "email": 45.0, "store": 6.0}, description="Median wait per channel (lognormal)."
    )
    wait_sigma: float = Field(1.1, ge=0, description="Log-sd of waits: heavy tail to hours.")
    max_wait_minutes: float = Field(2880.0, gt=0, description="Waits are cut here (an unanswered email is closed).")
    monthly_load_sigma: float = Field(0.15, ge=0, description="Log-sd of the month-to-month staffing load on waits.")
    long_wait_minutes: float = Field(15.0, gt=0, description="Waits beyond this add service pain, growing with log(wait).")
    resolve_base: float = Field(1.8, description="Logit of resolution at zero wait.")
    resolve_wait_slope: float = Field(0.8, ge=0, description="Logit drop per log(1 + wait/15).")
    resolve_incident_penalty: float = Field(0.7, ge=0, description="Logit drop for contacts about a shared incident.")
    repeat_probability: float = Field(0.55, ge=0, le=1, description="Chance an unresolved contact is followed by a repeat.")
    repeat_mean_days: float = Field(1.5, gt=0, description="Mean days to the repeat contact.")
    repeat_rounds: int = Field(3, ge=0, description="Longest chain of repeats after the first contact.")
    fault_rate: float = Field(0.04, ge=0, description="Individual tech faults per customer-month.")
    fault_proneness_sigma: float = Field(0.8, ge=0, description="Log-sd of the personal fault proneness.")
    contacts_per_fault: float = Field(0.6, ge=0, description="Expected contacts after an individual fault.")
    incident_probability: float = Field(0.12, ge=0, le=1, description="Monthly chance of a shared incident per region.")
    incident_share_min: float = Field(0.25, ge=0, le=1, description="Share of the region's customers an incident hits, lower bound.")
    incident_share_max: float = Field(0.70, ge=0, le=1)
    incident_median_minutes: float = Field(300.0, gt=0, description="Median duration of a shared incident.")
    contacts_per_incident_hit: float = Field(0.9, ge=0, description="Expected contacts from a customer an incident hit.")
    incident_wait_multiplier: float = Field(6.0, ge=1, description="Wait multiplier in the region right after an incident.")
    incident_load_days: float = Field(7.0, gt=0, description="How long waits stay inflated after an incident.")
    contacts_per_rise: float = Field(0.4, ge=0, description="Expected billing contacts after a price rise.")
    rise_contact_sensitivity: float = Field(
        1.0,
        ge=0,
        description="Billing contacts after a rise scale with price sensitivity to this power: who minds the rise calls.",
    )
    billing_contact_sensitivity: float = Field(
        1.0,
        ge=0,
        description="Odds of an everyday contact being about billing scale with price sensitivity to this power.",
    )
    fault_contact_sensitivity: float = Field(
        1.0, ge=0, description="Contacts after a fault or incident scale with service sensitivity to this power."
    )
    complaint_base: float = Field(0.02, ge=0, le=1, description="Chance a contact leads to a complaint.")
    complaint_unresolved: float = Field(0.12, ge=0, le=1, description="Extra chance when it was not resolved.")
    complaint_long_wait: float = Field(0.08, ge=0, le=1, description="Extra chance when the wait exceeded 30 minutes.")
    rise_complaint_probability: float = Field(0.10, ge=0, le=1, description="Chance of a billing complaint after a rise.")
    survey_rate: float = Field(0.04, ge=0, le=1, description="Share of active customers surveyed each month.")
    survey_base_score: float = Field(8.3, ge=0, le=10)
    survey_noise_sd: float = Field(1.2, ge=0)

    # --- churn hazard -------------------------------------------------------------------------------------------
    base_hazard: float = Field(0.0055, ge=0, le=1, description="Baseline monthly `other` hazard of an established customer.")
    seasonality: tuple[float, ...] = Field(
        (1.6, 1.0, 0.95, 0.95, 0.9, 0.9, 0.95, 1.0, 1.45, 1.05, 0.95, 0.8),
        description="Multiplier of the `other` hazard per calendar month, January first.",
    )
    base_hazard_drift: float = Field(
        0.0, description="Monthly log change of the base hazard over the recorded window: a drifting base churn rate."
    )
    static_causes: bool = Field(
        True,
        description="Whether who the customer is (channel, payment method, age, household) shapes their sensitivities "
        "and `other` propensity; False leaves every static attribute without any effect on churn.",
    )
    hazard_noise_sigma: float = Field(
        0.1,
        ge=0,
        description="Log-sd of month-to-month noise of the `other` hazard (luck: nothing in the logs explains it).",
    )
    new_customer_days: int = Field(90, gt=0, description="Runs younger than this are new, hence fragile.")
    new_fragility: float = Field(2.5, ge=1, description="`other` hazard multiplier of new customers.")
    new_service_multiplier: float = Field(1.5, ge=1, description="Service hazard multiplier of new customers.")
    winback_fragility: float = Field(2.0, ge=1, description="`other` hazard multiplier of a freshly won-back customer.")
    winback_fragility_days: float = Field(180.0, gt=0, description="Decay time of the won-back fragility.")
    winback_sensitivity: float = Field(1.3, ge=1, description="Price and service hazard multiplier of won-back customers.")
    tenure_protection: float = Field(0.3, ge=0, lt=1, description="`other` hazard reduction reached after five years.")
    # Long-standing customers forgive a price rise but not being treated as "just a number": with these two, service
    # is the leading cause among long-standing leavers (about 60% of those leaving after four years or more; retention
    # teams quote about 70%), while price and service weigh about the same in the first years.
    tenure_price_forgiveness: float = Field(
        0.7, ge=0, lt=1, description="Price hazard reduction reached after five years: established customers forgive more."
    )
    tenure_service_expectation: float = Field(
        2.0, ge=0, description="Service hazard increase reached after five years: long-standing customers expect care."
    )
    disengagement_effect: float = Field(0.6, ge=0, description="Log multiplier of `other` hazard per unit of lost log engagement.")
    age_effect: float = Field(
        0.06, ge=0, description="Young adults move and switch: log multiplier of the `other` hazard per year below 32."
    )
    household_effect: float = Field(
        0.12,
        ge=0,
        description="Each household member beyond the mean lowers the `other` hazard by this log amount (shared "
        "lines tie in).",
    )
    price_age_effect: float = Field(
        0.035, ge=0, description="Price sensitivity is U-shaped in age (young adults and pensioners count every euro): "
        "log multiplier per year away from 50."
    )
    price_household_effect: float = Field(
        0.15,
        ge=0,
        description="Larger households watch the bill more: log multiplier of price sensitivity per member beyond "
        "the mean.",
    )
    service_age_effect: float = Field(
        0.02,
        ge=0,
        description="Care about service grows after forty: log multiplier of service sensitivity per year above 40.",
    )
    other_propensity_sigma: float = Field(
        0.25,
        ge=0,
        description="Log-sd of the unobservable part of the propensity to leave for other reasons (what the static "
        "attributes do not explain).",
    )
    price_sensitivity_sigma: float = Field(
        0.25, ge=0, description="Log-sd of the unobservable part of the price sensitivity (beyond the static attributes)."
    )
    service_sensitivity_sigma: float = Field(
        0.25,
        ge=0,
        description="Log-sd of the unobservable part of the service sensitivity (beyond the static attributes).",
    )
    contact_service_correlation: float = Field(
        0.5, ge=0, le=1, description="Correlation of the log contact propensity with the unobservable service sensitivity: "
        "customers who mind service reach out more, so their contact history betrays it."
    )
    rise_weight: float = Field(0.28, ge=0, description="Hazard per unit of relative price rise (0.1 = 10%).")
    short_notice_extra: float = Field(1.0, ge=0, description="Extra rise pain when announced fewer than 14 days ahead.")
    no_notice_extra: float = Field(2.0, ge=0, description="Extra rise pain when not announced at all.")
    billing_complaint_weight: float = Field(0.013, ge=0, description="Price pain per billing complaint of severity 3.")
    mismatch_weight: float = Field(0.01, ge=0, description="Hazard per unit of plan mismatch (overage or unused).")
    mismatch_smoothing: float = Field(0.4, gt=0, le=1, description="Weight of the latest month in the mismatch average.")
    price_gap_weight: float = Field(0.02, ge=0, description="Hazard per unit of price above the current list price.")
    price_gap_tolerance: float = Field(0.05, ge=0, description="Paying up to this share above list is not felt.")
    price_decay: float = Field(0.7, ge=0, lt=1, description="Monthly persistence of price-rise pain.")
    service_decay: float = Field(0.65, ge=0, lt=1, description="Monthly persistence of service pain.")
    long_wait_weight: float = Field(0.0062, ge=0, description="Service hazard per log-unit of wait beyond the long-wait mark.")
    unresolved_weight: float = Field(0.0062, ge=0, description="Service hazard per unresolved contact.")
    repeat_weight: float = Field(0.0051, ge=0, description="Service hazard per repeat contact.")
    complaint_weight: float = Field(0.0076, ge=0, description="Service hazard per non-billing complaint of severity 3.")
    fault_weight: float = Field(0.0051, ge=0, description="Service hazard per individual fault.")
    incident_weight: float = Field(0.0062, ge=0, description="Service hazard per shared incident that hit the customer.")
    service_tolerance: float = Field(
        0.004, ge=0, description="Service pain up to this level is forgiven (an isolated bad experience); only the excess "
        "adds to the hazard, so a pattern of failures weighs more than the same failures spread thin."
    )
    max_hazard: float = Field(0.6, gt=0, lt=1, description="Cap of the monthly hazard.")

    # --- win-back -----------------------------------------------------------------------------------------------
    winback_probability_price: float = Field(0.32, ge=0, le=1, description="Chance a price churner comes back (offers work).")
    winback_probability_service: float = Field(0.20, ge=0, le=1)
    winback_probability_other: float = Field(0.22, ge=0, le=1)
    return_tenure_effect: float = Field(
        0.6, description="Log-odds of a return per standard deviation of log tenure at churn: long-standing customers come back more."
    )
    return_engagement_effect: float = Field(
        0.6, description="Log-odds of a return per standard deviation of engagement at churn: customers who used the service come back."
    )
    return_service_pain_effect: float = Field(
        0.6, description="Log-odds lost per standard deviation of service pain carried at churn: a bad experience keeps them away."
    )
    winback_min_days: int = Field(35, gt=30, description="Earliest return after churn; above the 30-day grace so churn is real.")
    winback_max_days: int = Field(95, gt=30, description="Latest return after churn.")

    shocks: Shocks = Field(default_factory=Shocks, description="Changes on known dates (none by default).")
    treatments: Treatments = Field(default_factory=Treatments, description="The simulated CRM applying the playbook (off by default).")

    @model_validator(mode="after")
    def _consistent(self) -> SimulationConfig:
        if self.shocks.incident_wave_region >= len(self.regions) or self.shocks.plan_rise_plan >= len(self.plans):
            raise ValueError("shocks name a region or plan index beyond `regions` or `plans`")
        if len(self.region_weights) != len(self.regions):
            raise ValueError(f"region_weights has {len(self.region_weights)} entries for {len(self.regions)} regions")
        if len(self.seasonality) != 12:
            raise ValueError("seasonality needs 12 multipliers, January first")
        if set(self.wait_median_minutes) != set(self.channel_weights):
            raise ValueError("wait_median_minutes must name exactly the channels of channel_weights")
        if self.winback_min_days > self.winback_max_days:
            raise ValueError("winback_min_days must not exceed winback_max_days")
        if self.notice_good_share + self.notice_short_share > 1:
            raise ValueError("notice_good_share + notice_short_share must not exceed 1")
        for lo, hi in (
            ("annual_rise_min", "annual_rise_max"),
            ("individual_rise_min", "individual_rise_max"),
            ("price_cut_min", "price_cut_max"),
            ("list_change_min", "list_change_max"),
            ("incident_share_min", "incident_share_max"),
        ):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo} must not exceed {hi}")
        if any(not 1 <= m <= 12 for m in self.wave_months):
            raise ValueError("wave_months are calendar months 1..12")
        if len({p.name for p in self.plans}) != len(self.plans):
            raise ValueError("plan names must be unique")
        if any(w < 0 for w in (*self.region_weights, *self.channel_weights.values())) or sum(self.region_weights) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return self
