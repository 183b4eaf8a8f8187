"""The simulated CRM of a treatment world (:class:`churnml.synth.config.Treatments`).

Each month, before the churn draw, it flags the riskiest active customers by a noisy view of their true 60-day risk,
holds out the control group the nightly job would hold out (:func:`churnml.remedies.held_out` of the customer id
and the date: the same customers whoever draws, each kept out for ``control_hold_days``), treats the rest with some compliance, and lets every remedy still
working change this month's hazard. A remedy addresses one family: a retention offer cuts the price hazard, a senior
manager's call the service hazard; the CRM reads the cause right unless it errs, so matched remedies help and
mismatched ones barely do. Where ``misfit_backfire_effect`` is set, contact backfires on a customer whose plan does
not fit their usage: every hazard part grows instead of one being cut. What it did becomes rows of
``retention_actions``; what it did and what that was worth (the true effect on the 60-day risk) becomes the
``treatments`` truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.dataset import epoch_day
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
    misfit: np.ndarray = field(init=False)  # contacted on a plan that does not fit: the contact backfires on all hazard
    actions: list[dict[str, np.ndarray]] = field(default_factory=list)
    truth: list[pd.DataFrame] = field(default_factory=list)
    # Last month's flagged rows, waiting for their second month's hazards: customers, chosen remedy, backfire, misfit.
    _pending: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.until = np.zeros(n, np.int64)
        self.held_until = np.full(n, -1, np.int64)
        self.family = np.zeros(n, np.int8)
        self.backfire = np.zeros(n, bool)
        self.misfit = np.zeros(n, bool)

    def month(self, m: int, day: pd.Timestamp, active: np.ndarray, h_other: np.ndarray, h_price: np.ndarray,
              h_service: np.ndarray, mismatch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This month's hazards of ``active`` after the CRM's run on ``day`` (month index ``m``); ``mismatch`` is their
        smoothed plan mismatch (where a contact can backfire on a plan that does not fit)."""
        c, rng = self.cfg, self.rng
        parts = np.stack([h_other, h_price, h_service])
        untreated = np.minimum(parts.sum(axis=0), self.max_hazard)
        seen_risk = _p60(untreated) * np.exp(rng.normal(0.0, c.ranking_noise, len(active)))
        k = int(np.ceil(c.flag_fraction * len(active)))
        flagged = np.zeros(len(active), bool)
        flagged[np.argsort(-seen_risk, kind="stable")[:k]] = True
        today = epoch_day(day)
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
        misfit = self.misfits(mismatch, len(active))

        if_treated = self._remedied(parts, chosen, backfire, misfit)
        self._second_month(active, parts)
        who = active[treated]
        self.until[who] = m + c.effect_months
        self.family[who] = chosen[treated]
        self.backfire[who] = backfire[treated]
        self.misfit[who] = misfit[treated]

        working = self.until[active] > m
        after = self._apply(parts, np.where(working, self.family[active], 0), working & self.backfire[active],
                            working & self.misfit[active], working)

        at = np.flatnonzero(flagged)
        self.truth.append(pd.DataFrame({
            "customer_index": active[at], "as_of_date": day, "flagged": True, "control_group": control[at],
            "treated": treated[at], "action": np.where(treated[at], np.array([ACTIONS[PRICE], ACTIONS[SERVICE]])[chosen[at] - 1], ""),
            "remedy_family": np.array(["", "price", "service"])[chosen[at]],
            "true_cause": np.array(["other", "price", "service"])[cause[at]], "matched": chosen[at] == cause[at],
            "backfire": (backfire[at] | misfit[at]) & treated[at],
            "hazard_untreated": untreated[at], "hazard_if_treated": if_treated[at],
            # the same hazards in the month after (filled then; this month's again for a customer gone by then)
            "next_hazard_untreated": untreated[at], "next_hazard_if_treated": if_treated[at],
        }))
        self._pending = (active[at], chosen[at], backfire[at], misfit[at])
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

    def misfits(self, mismatch: np.ndarray | None, n: int) -> np.ndarray:
        """Which of ``n`` customers a contact backfires on for their plan (none where the effect is off)."""
        if mismatch is None or self.cfg.misfit_backfire_effect == 0:
            return np.zeros(n, bool)
        return np.nan_to_num(np.asarray(mismatch, dtype=float), nan=0.0) >= self.cfg.misfit_level

    def _apply(self, parts: np.ndarray, fam: np.ndarray, bad: np.ndarray, misfit: np.ndarray, working: np.ndarray) -> np.ndarray:
        """The hazard parts with the remedies of ``working`` rows (family ``fam``), the backfire of ``bad`` and the
        plan backfire of ``misfit`` (all parts up, no cut)."""
        c = self.cfg
        out = parts.copy()
        rows = np.flatnonzero(working & ~misfit)
        out[fam[rows], rows] *= 1.0 - c.remedy_effect
        out[0] *= np.where(bad & ~misfit, 1.0 + c.backfire_effect, 1.0)
        out *= np.where(misfit, 1.0 + c.misfit_backfire_effect, 1.0)
        return out

    def _remedied(self, parts: np.ndarray, fam: np.ndarray, bad: np.ndarray, misfit: np.ndarray | None = None) -> np.ndarray:
        """The total hazard with the remedy addressing ``fam`` working (and the backfire of ``bad`` and ``misfit``)."""
        n = parts.shape[1]
        misfit = np.zeros(n, bool) if misfit is None else misfit
        return np.minimum(self._apply(parts, fam, bad, misfit, np.ones(n, bool)).sum(axis=0), self.max_hazard)

    def _second_month(self, active: np.ndarray, parts: np.ndarray) -> None:
        """Fill last month's flagged rows with this month's hazards, untreated and with their remedy: the 60-day
        effect spans two months, and a customer flagged on a bad month is usually less at risk the next."""
        if self._pending is None or not self.truth:
            return
        who, fam, bad, misfit = self._pending
        pos = np.searchsorted(active, who)
        alive = (pos < len(active)) & (active[np.minimum(pos, len(active) - 1)] == who)
        mine = parts[:, pos[alive]]
        frame = self.truth[-1]
        untreated = frame["next_hazard_untreated"].to_numpy(copy=True)
        treated = frame["next_hazard_if_treated"].to_numpy(copy=True)
        untreated[alive] = np.minimum(mine.sum(axis=0), self.max_hazard)
        treated[alive] = self._remedied(mine, fam[alive], bad[alive], misfit[alive])
        frame["next_hazard_untreated"], frame["next_hazard_if_treated"] = untreated, treated

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
            # The risk the remedy takes away over 60 days (> 0 helps): two months' survival, without it and with it.
            stay_without = (1 - truth["hazard_untreated"]) * (1 - truth["next_hazard_untreated"])
            stay_with = (1 - truth["hazard_if_treated"]) * (1 - truth["next_hazard_if_treated"])
            truth["effect_60d"] = stay_with - stay_without
        return frame, truth
