"""Shared test helpers for numerical checks."""
import numpy as np


def central_diff(f, arr, h=1e-6):
    """d f / d arr by float64 central differences, one element at a time.

    ``f`` takes no argument and reads ``arr``, which is perturbed in place and restored.
    """
    g = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + h
        fp = f()
        arr[i] = old - h
        fm = f()
        arr[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g
