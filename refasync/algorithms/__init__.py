"""One module per pseudocode box; each exposes ``worker(ctx)``, a generator
that runs the box's loop for one actor-learner and yields after every
asynchronous update."""
from . import a3c, n_step_q, one_step_q, one_step_sarsa

WORKERS = {
    "one-step-q": one_step_q.worker,
    "one-step-sarsa": one_step_sarsa.worker,
    "n-step-q": n_step_q.worker,
    "a3c": a3c.worker,
}
