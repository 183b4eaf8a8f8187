"""The simulated CRM of a treatment world (:class:`churnml.synth.config.Treatments`).

Each month, before the churn draw, it flags the riskiest active customers by a noisy view of their true 60-day risk,
holds out the control group the nightly job would hold out (:func:`churnml.remedies.held_out` of the customer id
and the date: the same customers whoever draws, each kept out for ``control_hold_days``), treats the rest with some compliance, and lets every remedy still
working change this month's hazard. A remedy addresses one family: a retention offer cuts the price hazard, a senior
manager's call the service hazard; the CRM reads the cause right unless it errs, so matched remedies help and
mismatched ones barely do. What it did becomes rows of ``retention_actions``; what it did and what that was worth
(the true effect on the 60-day risk) becomes the ``treatments`` truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.remedies import held_out
from churnml.synth.config import Treatments

PRICE, SERVICE = 1, 2  # families, as indexes of (other, price, service)
ACTIONS = {PRICE: "retention_offer", SERVICE: "senior_manager_call"}
_DAY = np.timedelta64(1, "D")


def _p60(h: np.ndarray) -> np.ndarray:
    return 1.0 - (1.0 - h) ** 2


@dataclass
class Crm:
    """The CRM's memory: which remedy works on whom until when, and what it did."""

    cfg: Treatments
    ids: pd.api.extensions.ExtensionArray
    max_hazard: float
    rng: np.random.Generator
    until: np.ndarray = field(init=False)  # month index a customer's remedy stops working (0: none)
    held_until: np.ndarray = field(init=False)  # day (since the epoch) a control customer stays held out until
    family: np.ndarray = field(init=False)  # the family it addresses
    backfire: np.ndarray = field(init=False)
    actions: list[dict[str, np.ndarray]] = field(default_factory=list)
    truth: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.until = np.zeros(n, np.int64)
        self.held_until = np.full(n, -1, np.int64)
        self.family = np.zeros(n, np.int8)
        self.backfire = np.zeros(n, bool)

    def month(self, m: int, day: pd.Timestamp, active: np.ndarray, h_other: np.ndarray, h_price: np.ndarray,
              h_service: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This month's hazards of ``active`` after the CRM's run on ``day`` (month index ``m``)."""
        c, rng = self.cfg, self.rng
        parts = np.stack([h_other, h_price, h_service])
        untreated = np.minimum(parts.sum(axis=0), self.max_hazard)
        seen_risk = _p60(untreated) * np.exp(rng.normal(0.0, c.ranking_noise, len(active)))
        k = int(np.ceil(c.flag_fraction * len(active)))
        flagged = np.zeros(len(active), bool)
        flagged[np.argsort(-seen_risk, kind="stable")[:k]] = True
        today = int(day.value // 86_400_000_000_000)
        # Every active customer the draw holds out is left alone, flagged by this CRM or not: whoever the nightly job
        # flagged, a customer in its control group is then never treated here.
        drawn = held_out(self.ids.take(active), day, c.control_fraction, c.control_key)
        still = self.held_until[active] > today  # held out in an earlier month, outcome still being measured
        control = flagged & (drawn | still)
        self.held_until[active[drawn & ~still]] = today + c.control_hold_days
        free = self.until[active] <= m  # a remedy still working is not repeated
        treated = flagged & ~control & free & (rng.random(len(active)) < c.compliance)
        cause = np.argmax(parts, axis=0)  # the true leading family: 0 other, 1 price, 2 service
        read = np.where(h_price >= h_service, PRICE, SERVICE)  # the CRM's remedies address price or service
        chosen = np.where(rng.random(len(active)) < c.cause_error, PRICE + SERVICE - read, read)
        backfire = rng.random(len(active)) < c.backfire_share

        # What the remedy would do to this month's hazard, for every flagged customer (the counterfactual of each).
        def apply(fam: np.ndarray, bad: np.ndarray) -> np.ndarray:
            out = parts.copy()
            rows = np.arange(len(active))
            out[fam, rows] *= 1.0 - c.remedy_effect
            out[0] *= np.where(bad, 1.0 + c.backfire_effect, 1.0)
            return np.minimum(out.sum(axis=0), self.max_hazard)

        if_treated = apply(chosen, backfire)
        who = active[treated]
        self.until[who] = m + c.effect_months
        self.family[who] = chosen[treated]
        self.backfire[who] = backfire[treated]

        working = self.until[active] > m
        fam = np.where(working, self.family[active], 0)
        bad = working & self.backfire[active]
        after = parts.copy()
        rows = np.flatnonzero(working)
        after[fam[rows], rows] *= 1.0 - c.remedy_effect
        after[0] *= np.where(bad, 1.0 + c.backfire_effect, 1.0)

        at = np.flatnonzero(flagged)
        self.truth.append(pd.DataFrame({
            "customer_index": active[at], "as_of_date": day, "flagged": True, "control_group": control[at],
            "treated": treated[at], "action": np.where(treated[at], np.array([ACTIONS[PRICE], ACTIONS[SERVICE]])[chosen[at] - 1], ""),
            "remedy_family": np.array(["", "price", "service"])[chosen[at]],
            "true_cause": np.array(["other", "price", "service"])[cause[at]], "matched": chosen[at] == cause[at],
            "backfire": backfire[at] & treated[at],
            "hazard_untreated": untreated[at], "hazard_if_treated": if_treated[at],
            "effect_60d": _p60(untreated[at]) - _p60(if_treated[at]),  # the risk the remedy takes away (> 0 helps)
        }))
        if len(who):
            cost = np.where(chosen[treated] == PRICE, c.offer_cost, c.call_cost)
            self.actions.append({
                "cust": who,
                "t": day.to_datetime64() + rng.integers(0, 7 * 86_400, len(who)) * np.timedelta64(1, "s"),
                "action": np.array([ACTIONS[f] for f in chosen[treated]], dtype=object),
                "cost": cost.astype(np.float64),
                "channel": np.where(chosen[treated] == PRICE, "email", "phone").astype(object),
            })
        return after[0], after[1], after[2]

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``retention_actions`` (canonical, by customer and time) and the ``treatments`` truth."""
        from churnml.schemas import TABLES, empty_frame

        if self.actions:
            cols = {k: np.concatenate([a[k] for a in self.actions]) for k in self.actions[0]}
            order = np.lexsort((cols["t"], cols["cust"]))
            frame = pd.DataFrame({
                "customer_id": self.ids.take(cols["cust"][order]),
                "timestamp": cols["t"][order].astype("datetime64[ns]"),
                "action": pd.array(cols["action"][order], dtype=self.ids.dtype),
                "cost": cols["cost"][order],
                "channel": pd.array(cols["channel"][order], dtype=self.ids.dtype),
            })[TABLES["retention_actions"].column_names]
        else:
            frame = empty_frame("retention_actions")
        truth = pd.concat(self.truth, ignore_index=True) if self.truth else pd.DataFrame()
        if len(truth):
            truth.insert(0, "customer_id", self.ids.take(truth.pop("customer_index").to_numpy()))
        return frame, truth
