"""Synthetic churn data with planted causes: simulated customers, canonical tables and the ground truth."""

from churnml.synth.config import PlanSpec, SimulationConfig
from churnml.synth.simulate import CAUSES, SyntheticData, generate, generate_regions
from churnml.synth.worlds import WORLDS, world_config

__all__ = ["CAUSES", "WORLDS", "PlanSpec", "SimulationConfig", "SyntheticData", "generate", "generate_regions", "world_config"]
