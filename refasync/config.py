"""Run configuration, per-environment-family presets, and their validation.

Units (ADDITION 12): every step count here (``steps``, ``I_target``, ``eps_anneal_steps``,
``t_max``, ``I_async_update``) counts AGENT steps, i.e. increments of the
global counter T (one per action).  On Atari one agent step is
``frame_skip`` = 4 emulator frames, so the paper's frame counts are divided
by 4 (I_target 40,000 frames -> 10,000 steps; epsilon annealed over 4M
frames -> 1M steps).

Presets are chosen from the environment id (``ALE/*`` -> ``atari``,
anything else -> ``classic``), then overridden by the command line.  Each
value carries its source in its field's ``source`` (``preset_sources()``): each setting is
declared once, with its flag, help, source and role (``setting``).
"""
from __future__ import annotations

import argparse

import dataclasses
import math
from dataclasses import dataclass, field

from .cli import float_list, hidden_sizes
from .errors import ConfigError  # noqa: F401  (refasync.config.ConfigError, as before)

ALGORITHMS = ("one-step-q", "one-step-sarsa", "n-step-q", "a3c")
ALIASES = {"q": "one-step-q", "sarsa": "one-step-sarsa", "nq": "n-step-q", "a3c": "a3c",
           **{a: a for a in ALGORITHMS}}
OPTIMIZERS = ("shared_rmsprop", "rmsprop", "momentum_sgd", "shared_momentum_sgd")


def setting(default, *, flag=None, help=None, source=None, kind="learning", resume=False, replay=False,
            shown=None, parse=None, choices=None, const=None, metavar=None, hyper=None, negatable=False):
    """A Config field and everything about it, declared once (the parser, the printed
    configuration, the preset sources, the flags --resume accepts, the settings a golden
    replay carries and the ones plots compare are all derived from these):

    flag     its command-line flag (True: from the name, ``I_target`` -> ``--i-target``), or None
    help     the flag's help;  parse / choices / const / metavar: how the flag is read (const: a switch;
             negatable: a switch with a --no- twin, for a switch a preset turns on)
    hyper    listed under "hyperparameters" in --help (default: the learning settings)
    source   where the presets' value comes from (config.json's ``preset_sources``)
    kind     "identity" (algo, env, seed), "learning" (changes what is learned: plots compare
             these) or "run" (how the run is executed and logged)
    resume   whether --resume accepts the flag;  replay: whether a golden replay's config has it
    shown    when the printed configuration shows it: True, or a predicate of the Config
    """
    metadata = dict(flag=flag, help=help, source=source, kind=kind, resume=resume, replay=replay,
                    shown=shown, parse=parse, choices=choices, const=const, metavar=metavar,
                    negatable=negatable, hyper=kind == "learning" if hyper is None else hyper)
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


def _q(cfg):
    return cfg.head == "q"


@dataclass
class Config:
    algo: str = setting("a3c", flag=True, kind="identity", replay=True,
                        help=f"{', '.join(ALGORITHMS)} (aliases q, sarsa, nq, a3c); default a3c")
    env: str = setting("CartPole-v1", flag=True, kind="identity", replay=True,
                       help="a gymnasium id (ALE/* ids get the paper's Atari pipeline; a Box action space "
                            "A3C's Gaussian policy); default CartPole-v1")
    workers: int = setting(2, flag=True, parse=int, replay=True, shown=True, hyper=False,
                           help="actor-learners (default: the preset's if it sets one, else the CPU cores)")
    # ADDITION 12: T_max in agent steps, not frames
    steps: int = setting(200_000, flag=True, parse=int, resume=True, replay=True, shown=True, hyper=False,
                         help="T_max, total agent steps (default: preset)",
                         source="atari: 80M agent steps = 320M frames, the authors' e-mail: '320 million "
                                "frames ... for one-day results' (not in the paper's text); classic: tuned; "
                                "continuous: 2M, enough for Pendulum-v1 and InvertedPendulum-v5 (README)")
    seed: int = setting(0, flag=True, parse=int, kind="identity", replay=True, shown=True)
    deterministic: bool = setting(False, flag=True, const=True, shown=True, hyper=False,
                                  help="interleave the workers in one process: bitwise reproducible")
    out: str | None = setting(None, flag=True, kind="run", help="run folder (default runs/<algo>-<env>-<time>)")
    # learning
    gamma: float = setting(0.99, flag=True, parse=float, replay=True, shown=True,
                           source="paper Sec. 8: discount 0.99")
    lr: float = setting(7e-4, flag=True, parse=float, replay=True, shown=True,
                        source="atari: 7e-4, the authors' e-mail (muupan/async-rl wiki; the paper sweeps "
                               "LogUniform(1e-4, 1e-2)); continuous: 7e-4, measured on Pendulum-v1 (DECISION 4); "
                               "classic: tuned on CartPole-v1")
    lr_anneal: bool = setting(True, flag="--no-lr-anneal", const=False, replay=True, shown=True,
                              help="a constant learning rate (default: annealed linearly to 0 at T_max)",
                              source="paper Sec. 8: learning rate annealed linearly to 0")
    optimizer: str = setting("shared_rmsprop", flag=True, choices=OPTIMIZERS, replay=True, shown=True,
                             source="paper Sec. 4/7: shared RMSProp is the most robust")
    rms_alpha: float = setting(0.99, flag=True, parse=float, replay=True, shown=True,
                               source="paper Sec. 8: RMSProp decay 0.99")
    rms_eps: float = setting(0.1, flag=True, parse=float, replay=True, shown=True,
                             source="0.1: the authors' e-mail (muupan/async-rl wiki); inside the square root: "
                                    "paper Sec. 4 / supp. Sec. 7 equations")
    momentum: float = setting(0.99)      # alpha of momentum SGD (per-thread m_i, or shared m); no flag
    max_grad_norm: float = setting(40.0, flag=True, parse=float, replay=True, shown=True,
                                   help="0 disables clipping",
                                   source="40: neither the paper nor the authors' e-mail (which says they "
                                          "'didn't clip losses'); the value of the public reproductions "
                                          "(chainerrl/pfrl, miyosuda)")
    # algorithm structure
    t_max: int = setting(5, flag=True, parse=int, replay=True, shown=lambda c: c.algo in ("a3c", "n-step-q"),
                         help="n-step Q and A3C segment length",
                         source="paper Sec. 8: t_max = 5 with 16 threads; atari A3C: 20 with one worker per "
                                "core, up to 4 workers (DECISION 1, measured on Pong: docs/atari-experiments.md); "
                                "classic A3C: 20, tuned; continuous: 20, the classic value (the paper batches "
                                "whole episodes)")
    I_async_update: int = setting(5, flag=True, parse=int, replay=True, shown=lambda c: c.algo.startswith("one-step"),
                                  help="one-step methods: agent steps between updates",
                                  source="paper Sec. 8: one-step methods update every 5 actions")
    I_target: int = setting(10_000, flag=True, parse=int, replay=True, shown=_q,
                            help="agent steps between target copies",
                            source="paper Sec. 8: 40,000 frames = 10,000 agent steps at frame skip 4; "
                                   "classic: tuned")
    # exploration (Q methods)
    eps_finals: tuple = setting((0.1, 0.01, 0.5), flag=True, parse=float_list, shown=_q,
                                help="final epsilons each worker samples from, e.g. 0.1,0.01,0.5",
                                source="paper Sec. 8: final epsilon sampled from {0.1, 0.01, 0.5}")
    eps_probs: tuple = setting((0.4, 0.3, 0.3), flag=True, parse=float_list, shown=_q,
                               help="their probabilities, e.g. 0.4,0.3,0.3",
                               source="paper Sec. 8: with probabilities {0.4, 0.3, 0.3}")
    eps_anneal_steps: int = setting(1_000_000, flag=True, parse=int, shown=_q,
                                    source="paper Sec. 8: annealed from 1 over 4M frames = 1M agent steps; "
                                           "classic: tuned")
    # A3C
    beta: float = setting(0.01, flag=True, parse=float, replay=True, shown=lambda c: c.algo == "a3c",
                          help="entropy weight (A3C)",
                          source="paper Sec. 8: entropy weight 0.01; continuous: 1e-4 (supp. Sec. 9)")
    value_scale: float = setting(0.5, flag=True, parse=float, replay=True, shown=lambda c: c.algo == "a3c",
                                 source="the authors' e-mail: 'multiply the gradients of V by 0.5', read as "
                                        "0.5 * d(R - V)^2/dV (docs/implementation-details.md, ADDITION 3)")
    # environment and network
    clip_rewards: bool = setting(False, shown=lambda c: c.network == "atari",
                                 source="DQN's rule (Mnih et al. 2015; paper Sec. 8: 'the same input "
                                        "preprocessing'), confirmed by the authors' e-mail: rewards clipped to "
                                        "[-1, 1] on Atari")
    # ADDITION 15: the learner sees reward_scale * r
    reward_scale: float = setting(1.0, flag=True, parse=float, shown=lambda c: c.reward_scale != 1.0,
                                  help="the learner sees reward-scale * r; scores stay raw",
                                  source="continuous: 1e-3, measured on Pendulum-v1 (DECISION 4; chainerrl's A3C "
                                         "for continuous control uses the same); the paper does not say "
                                         "(ADDITION 15)")
    life_loss_terminal: bool = setting(False, flag=True, negatable=True, shown=lambda c: c.network == "atari",
                                       help="Atari: a lost life is terminal for learning, the game goes on "
                                            "(atari preset: on; --no-life-loss-terminal: off)",
                                       source="atari: on, DECISION 5 (Breakout, equal frames: mean-100 14.2 "
                                              "against 7.8 at 20M frames); the paper does not say; DQN-2015, "
                                              "pfrl's and muupan's A3C reproductions train with it")
    network: str = setting("mlp",        # "mlp", "atari" or "gaussian" (continuous actions, A3C)
                           source="paper Sec. 8: the Atari network; an MLP for vector observations; supp. "
                                  "Sec. 9: separate Gaussian-policy and value networks for continuous actions")
    hidden: tuple = setting((64, 64), flag=True, parse=hidden_sizes, replay=True,
                            shown=lambda c: c.network in ("mlp", "gaussian"),
                            help="MLP hidden sizes, e.g. 64,64")
    sigma_per_dimension: bool = setting(False, flag=True, const=True,
                                        help="continuous actions: one sigma^2 per action dimension (default: "
                                             "one for all, the paper's)")
    linear_mu: bool = setting(False, flag=True, const=True, shown=lambda c: c.network == "gaussian",
                              help="continuous actions: the paper's linear mean, actions clipped to the bounds "
                                   "(default: tanh mean in [-1, 1] mapped onto the bounds, DEVIATION 7)",
                              source="continuous: off, tanh mean (DEVIATION 7, measured on Pendulum-v1); the "
                                     "paper's linear mean is --linear-mu")
    dtype: str = setting("float32", flag=True, choices=("float32", "float64"), replay=True)
    # running and logging
    progress_interval: float = setting(1.0, kind="run")      # seconds between progress.csv rows
    checkpoint_interval: float = setting(60.0, flag="--checkpoint-every", parse=float, kind="run", resume=True,
                                         metavar="SECONDS",
                                         help="seconds between periodic checkpoints (default 60); the logs are "
                                              "flushed to disk with each, so a run that dies resumes from the "
                                              "last one")
    restart_workers: int = setting(0, flag=True, parse=int, kind="run", resume=True, metavar="N",
                                   help="replace a worker that dies (exception, killed, out of memory) with a "
                                        "fresh one, up to N times in the run (default 0: a failure stops the "
                                        "run); NaN/Inf always stops it")
    extra: dict = setting({}, kind="run")

    @property
    def head(self):
        if self.network == "gaussian":
            return "gaussian"
        return "actor_critic" if self.algo == "a3c" else "q"

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["eps_finals"] = list(self.eps_finals)
        d["eps_probs"] = list(self.eps_probs)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if kwargs.get("network") == "gaussian" and "linear_mu" not in kwargs:
            kwargs["linear_mu"] = True          # written before DEVIATION 7: those runs had the linear mean
        for k in ("eps_finals", "eps_probs", "hidden"):
            if k in kwargs:
                kwargs[k] = tuple(kwargs[k])
        return cls(**kwargs)


# Per environment family, then per algorithm.  Values for `classic` were tuned
# on CartPole-v1 (see README "Results"); `atari` follows the paper.
PRESETS = {
    "classic": {
        "_all": dict(gamma=0.99, lr_anneal=True, optimizer="shared_rmsprop", rms_alpha=0.99,
                     rms_eps=0.1, max_grad_norm=40.0, network="mlp", hidden=(64, 64),
                     clip_rewards=False, eps_finals=(0.1, 0.01, 0.5), eps_probs=(0.4, 0.3, 0.3)),
        # Tuned on CartPole-v1 with 2 workers over seeds 0-2 (README "Results"): one-step
        # Q at 500k steps failed one seed of three (greedy 420), at 1M none; Sarsa with
        # I_target 1000 or 5000 failed seed 1 (greedy 240-290) whatever the lr, steps,
        # clipping or epsilon, and solved all three with I_target 200.
        "one-step-q": dict(steps=1_000_000, lr=1e-3, I_async_update=5, I_target=1_000,
                           eps_anneal_steps=40_000),
        "one-step-sarsa": dict(steps=500_000, lr=1e-3, I_async_update=5, I_target=200,
                               eps_anneal_steps=40_000),
        "n-step-q": dict(steps=500_000, lr=1e-3, t_max=5, I_target=1_000, eps_anneal_steps=40_000),
        # t_max 20: with t_max 5 the value loss diverged on CartPole (unclipped rewards,
        # returns up to 100) at lr 1e-3 and 3e-4; the authors also mention t_max 20
        "a3c": dict(steps=500_000, lr=1e-3, t_max=20, beta=0.01, value_scale=0.5),
    },
    # Continuous actions (a gymnasium Box), A3C only: the paper's supplementary Sec. 9.
    # DECISION 4 (docs/implementation-details.md): reward_scale 1e-3 and the tanh mean,
    # measured on Pendulum-v1 (the linear mean drifts out of the bounds and stays there).
    "continuous": {
        "_all": dict(gamma=0.99, lr_anneal=True, optimizer="shared_rmsprop", rms_alpha=0.99,
                     rms_eps=0.1, max_grad_norm=40.0, network="gaussian", hidden=(200, 128),
                     clip_rewards=False, reward_scale=1e-3, linear_mu=False, beta=1e-4,
                     value_scale=0.5, t_max=20, lr=7e-4, steps=2_000_000),
    },
    "atari": {
        "_all": dict(gamma=0.99, lr=7e-4, lr_anneal=True, optimizer="shared_rmsprop",
                     rms_alpha=0.99, rms_eps=0.1, max_grad_norm=40.0, network="atari",
                     clip_rewards=True, t_max=5, I_async_update=5, I_target=10_000,
                     eps_finals=(0.1, 0.01, 0.5), eps_probs=(0.4, 0.3, 0.3),
                     eps_anneal_steps=1_000_000, beta=0.01, value_scale=0.5,
                     steps=80_000_000,
                     # DECISION 5 (docs/atari-experiments.md): a lost life ends the learner's
                     # episode (not the game); no-op on games without lives (Pong)
                     life_loss_terminal=True),
        # DECISION 1 (docs/implementation-details.md, docs/atari-experiments.md): with as many
        # actor-learners as cores instead of the paper's 16 threads, A3C uses t_max 20 --
        # while there are few of them (LONG_SEGMENT_MAX_WORKERS; preset() gives 5 above).
        "a3c": dict(t_max=20),
    },
}

# DECISION 1's bound: a worker's gradient is applied after about (N - 1) other updates, each of
# t_max steps. On Pong, (N - 1) * t_max = 20 (2 workers, t_max 20) and 75 (16 workers, t_max 5)
# learned; 300 (16 workers, t_max 20) killed the network. t_max 20 is kept while
# (N - 1) * 20 <= 75, i.e. up to 4 workers; beyond, the paper's 5.
LONG_SEGMENT_MAX_WORKERS = 4

def fields(kind=None, cls=None):
    """The Config fields (of ``kind``: "identity", "learning", "run"), in declaration order."""
    return [f for f in dataclasses.fields(cls or Config) if kind is None or f.metadata["kind"] == kind]


def flag_of(f):
    """The command-line flag of a field, or None."""
    given = f.metadata["flag"]
    return flag(f.name) if given is True else given


def preset_sources(cls=None):
    """name -> where the presets' value comes from (written into config.json)."""
    return {f.name: f.metadata["source"] for f in fields(cls=cls) if f.metadata["source"]}


def replay_settings(cls=None):
    """The settings a golden replay's configuration carries."""
    return [f.name for f in fields(cls=cls) if f.metadata["replay"]]


def compared_settings(cls=None):
    """The settings that tell runs apart (plots label curves by those that differ)."""
    return [f.name for f in fields(cls=cls) if f.metadata["kind"] != "run"]


def resume_flags(cls=None):
    """The Config flags --resume accepts."""
    return [flag_of(f) for f in fields(cls=cls) if f.metadata["resume"]]


def shown_settings(cfg):
    """The settings the printed configuration shows for this run, in declaration order."""
    out = []
    for f in dataclasses.fields(cfg):
        shown = f.metadata["shown"]
        if shown is True or (callable(shown) and shown(cfg)):
            out.append(f.name)
    return out


def add_arguments(parser, group, cls=None):
    """One argument per Config field with a flag: the hyperparameters on ``group``, the
    rest on ``parser``.  Defaults are None ("not given": the preset or the Config decides),
    except for the identity fields, whose defaults are the Config's."""
    for f in fields(cls=cls):
        name, md = flag_of(f), f.metadata
        if name is None:
            continue
        kw = {"dest": f.name, "help": md["help"], "metavar": md["metavar"],
              "default": f.default if md["kind"] == "identity" else None}
        if md["negatable"]:
            kw.update(action=argparse.BooleanOptionalAction)
        elif md["const"] is not None:
            kw.update(action="store_const", const=md["const"])
        else:
            kw.update(type=md["parse"], choices=md["choices"])
        (group if md["hyper"] else parser).add_argument(
            name, **{k: v for k, v in kw.items() if v is not None or k == "default"})


def family(env_id):
    """atari (ALE/* ids), continuous (a Box action space) or classic."""
    if env_id.startswith("ALE/"):
        return "atari"
    from .envs import is_continuous
    return "continuous" if is_continuous(env_id) else "classic"


def preset(algo, env_id, workers=None):
    """The preset values for an algorithm on an environment family (and number of workers)."""
    fam = family(env_id)
    if fam == "continuous" and algo != "a3c":
        raise ConfigError(f"{env_id} has continuous actions: the value-based methods need discrete "
                          "actions; use --algo a3c")
    p = PRESETS[fam]
    values = {**p["_all"], **p.get(algo, {})}
    if fam == "atari" and algo == "a3c" and workers is not None and workers > LONG_SEGMENT_MAX_WORKERS:
        values["t_max"] = p["_all"]["t_max"]          # DECISION 1's bound: the paper's 5
    return values


def resolve_algo(name):
    try:
        return ALIASES[name]
    except KeyError:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of "
                          f"{', '.join(ALGORITHMS)} (aliases q, sarsa, nq, a3c)") from None


def flag(name):
    """The command-line flag of a Config field: I_target -> --i-target."""
    return "--" + name.lower().replace("_", "-")


def validate(cfg):
    """Raise ConfigError (one line) for values the algorithms cannot run with."""
    def positive(name, integer=True):
        v = getattr(cfg, name)
        if (integer and not isinstance(v, int)) or not v > 0:
            raise ConfigError(f"{flag(name)} must be a positive "
                              f"{'integer' if integer else 'number'}, got {v!r}")

    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{flag(f.name)} must be a finite number, got {v}")
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {cfg.seed!r}")
    if cfg.algo not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {cfg.algo!r}")
    for name in ("workers", "steps", "t_max", "I_async_update", "I_target", "eps_anneal_steps"):
        positive(name)
    positive("lr", integer=False)
    if not 0.0 <= cfg.gamma <= 1.0:
        raise ConfigError(f"--gamma must be in [0, 1], got {cfg.gamma!r}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if not 0.0 <= cfg.rms_alpha < 1.0:
        raise ConfigError(f"--rms-alpha must be in [0, 1), got {cfg.rms_alpha!r}")
    if not 0.0 <= cfg.momentum < 1.0:           # a config field (config.json), not a flag
        raise ConfigError(f"momentum must be in [0, 1), got {cfg.momentum!r}")
    if cfg.rms_eps <= 0:
        raise ConfigError(f"--rms-eps must be positive, got {cfg.rms_eps!r}")
    positive("reward_scale", integer=False)
    if cfg.max_grad_norm < 0 or cfg.beta < 0 or cfg.value_scale < 0:
        raise ConfigError("--max-grad-norm, --beta and --value-scale must be >= 0")
    if len(cfg.eps_finals) != len(cfg.eps_probs) or abs(sum(cfg.eps_probs) - 1) > 1e-9:
        raise ConfigError("eps_finals and eps_probs must have the same length and probs must sum to 1")
    if not isinstance(cfg.restart_workers, int) or cfg.restart_workers < 0:
        raise ConfigError(f"--restart-workers must be a non-negative integer, got {cfg.restart_workers!r}")
    if cfg.dtype not in ("float32", "float64"):
        raise ConfigError(f"dtype must be float32 or float64, got {cfg.dtype!r}")
    return cfg
