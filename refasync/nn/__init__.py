"""Networks on one flat parameter vector, with Numba forward/backward kernels."""
from .network import Conv, Dense, GaussianActorCritic, Network, atari_network, build_network, mlp

__all__ = ["Conv", "Dense", "GaussianActorCritic", "Network", "atari_network", "build_network", "mlp"]
