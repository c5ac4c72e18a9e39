"""refasync's flat MLP layout, for the gallery's adapters: per layer the weight
(K_in, K_out) then the bias, hidden layers ReLU, the output layer linear; an
actor-critic's output layer is [logits..., V] (refasync/golden/README.md)."""
import numpy as np


def sizes(obs_dim, hidden, n_out):
    return [int(obs_dim), *(int(h) for h in hidden), int(n_out)]


def split(theta, layer_sizes):
    """[(W (K_in, K_out), b (K_out,))] views into the flat theta."""
    out, off = [], 0
    for k_in, k_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = theta[off:off + k_in * k_out].reshape(k_in, k_out)
        off += k_in * k_out
        out.append((W, theta[off:off + k_out]))
        off += k_out
    assert off == len(theta), f"theta has {len(theta)} entries, the layout {off}"
    return out


def join(pairs):
    """The flat vector of [(W, b)] (W as (K_in, K_out))."""
    return np.concatenate([np.concatenate([np.asarray(W).reshape(-1), np.asarray(b).reshape(-1)])
                           for W, b in pairs])
