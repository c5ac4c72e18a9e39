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


def fd_atol(value, h=1e-6):
    """An absolute tolerance for ``central_diff`` of a function whose value is ``value``:
    the difference of two evaluations near |value| carries a rounding error of about
    eps |value| each, divided by 2h, so the quotient is off by up to eps |value| / h.
    4 times that, plus 1e-7.  (Loss sums in the thousands, e.g. a Gaussian policy with
    sigma^2 ~ 1e-3, make this the dominant error; the truncation error is h^2 f''' / 6.)"""
    return 1e-7 + 4 * np.finfo(float).eps * abs(value) / h
