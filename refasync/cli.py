"""What every command line shares: a parser that reports bad input as one line and exit
code 2, and the argument types (train, evaluate, plot, crosscheck)."""
from __future__ import annotations

import argparse
import os


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def available_cores():
    """Cores this process may run on (affinity and container limits), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:        # not Linux
        return os.cpu_count() or 1


def positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def comma_list(cast, valid, example):
    """An argparse type for comma-separated values, each cast and checked."""
    def parse(text):
        try:
            values = tuple(cast(x) for x in text.split(",") if x.strip())
        except ValueError:
            values = None
        if values is None or not all(valid(v) for v in values):
            raise argparse.ArgumentTypeError(f"expected a list like {example}, got {text!r}")
        return values
    return parse


hidden_sizes = comma_list(int, lambda h: h > 0, "64,64")
float_list = comma_list(float, lambda v: 0.0 <= v <= 1.0, "0.1,0.01,0.5 (values in [0, 1])")
