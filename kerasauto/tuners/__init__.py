"""Search strategies: each pairs an Oracle with a thin Tuner."""
from kerasauto.tuners.network_morphism import MorphismTuner, NetworkMorphismOracle

__all__ = ["MorphismTuner", "NetworkMorphismOracle"]
