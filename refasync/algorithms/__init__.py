"""One module per pseudocode box; each exposes ``worker(ctx)``, a generator
that runs the box's loop for one actor-learner and yields after every
asynchronous update a dict: ``loss``, ``grad_norm`` (before clipping), ``T``
(the global step of the update), the segment's actions ``a``, rewards ``r``
and targets or returns ``target`` (and ``entropy`` for A3C)."""
from . import a3c, n_step_q, one_step_q, one_step_sarsa

WORKERS = {
    "one-step-q": one_step_q.worker,
    "one-step-sarsa": one_step_sarsa.worker,
    "n-step-q": n_step_q.worker,
    "a3c": a3c.worker,
}
