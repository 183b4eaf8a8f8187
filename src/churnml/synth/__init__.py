"""Synthetic churn data with planted causes: simulated customers, canonical tables and the ground truth."""

from churnml.synth.config import PlanSpec, SimulationConfig
from churnml.synth.simulate import CAUSES, SyntheticData, generate

__all__ = ["CAUSES", "PlanSpec", "SimulationConfig", "SyntheticData", "generate"]
