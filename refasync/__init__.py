"""refasync: reference NumPy + Numba implementation of Mnih et al. 2016,
"Asynchronous Methods for Deep Reinforcement Learning" (arXiv:1602.01783).

Public API (documented in README.md, "Using refasync as a reference"):
  targets:  n_step_returns, one_step_q_target, one_step_sarsa_target
  losses:   q_loss_grad, a3c_loss_grad, gaussian_loss_grad, log_softmax
  nn:       atari_network, mlp, Network (init / forward / backward / layout)
  optim:    rmsprop_step, momentum_sgd_step, grad_norm, clip_coefficient, linear_lr
"""
__version__ = "0.1.0"

from .losses import a3c_loss_grad, gaussian_loss_grad, log_softmax, q_loss_grad
from .nn import Network, atari_network, mlp
from .optim import clip_coefficient, grad_norm, linear_lr, momentum_sgd_step, rmsprop_step
from .targets import n_step_returns, one_step_q_target, one_step_sarsa_target

__all__ = [
    "__version__",
    "n_step_returns", "one_step_q_target", "one_step_sarsa_target",
    "q_loss_grad", "a3c_loss_grad", "gaussian_loss_grad", "log_softmax",
    "Network", "atari_network", "mlp",
    "rmsprop_step", "momentum_sgd_step", "grad_norm", "clip_coefficient", "linear_lr",
]
