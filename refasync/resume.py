"""Continuing a run from its folder: every check on config.json, the logs and
checkpoint.npz before anything in the folder changes, and the configuration and
state the run continues from."""
from __future__ import annotations

import json
import os

from .checkpoint import decode_snapshot, load_checkpoint, resume_problem
from .config import Config, ConfigError, validate
from .envs import env_spec
from .logs import RunRecorder
from .nn import build_network


def prepare_resume(args, argv, parser, allowed):
    """(cfg, spec, restored) of the run folder ``args.resume``, or ConfigError with
    one line; nothing in the folder is changed before every check has passed.
    ``allowed``: the flags that may be given with ``--resume`` (``--resume`` and
    ``--steps`` first); ``parser`` resolves abbreviations as it would."""
    run_dir = args.resume
    given = [full_option(parser, a) for a in argv if a.startswith("--")]
    other = [a for a in given if a not in allowed]
    if other:
        raise ConfigError(f"--resume continues {run_dir} with its own settings; only --steps (to extend "
                          f"it) and the logging and run options {', '.join(allowed[2:])} may be "
                          f"given, not {other[0]}")
    for name in ("config.json", "checkpoint.npz", "episodes.csv", "progress.csv"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise ConfigError(f"cannot resume {run_dir}: it has no {name}")
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            d = json.load(f)
        cfg = Config.from_dict(d)
        obs_shape, n_actions = tuple(d["obs_shape"]), int(d["n_actions"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"cannot resume {run_dir}: config.json is unreadable ({type(e).__name__})") from None
    logs = (("episodes.csv", RunRecorder.EPISODE_COLUMNS), ("progress.csv", RunRecorder.PROGRESS_COLUMNS))
    for name, columns in logs:
        try:
            with open(os.path.join(run_dir, name)) as f:
                header = f.readline().strip().split(",")
        except OSError as e:
            raise ConfigError(f"cannot resume {run_dir}: {name} is unreadable ({e.strerror})") from None
        if header != columns:
            raise ConfigError(f"cannot resume {run_dir}: {name} is not a log this refasync writes")
    try:
        ckpt = load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))
    except Exception as e:     # a truncated or foreign file: the user's input, not our bug
        raise ConfigError(f"cannot resume {run_dir}: checkpoint.npz is corrupt ({type(e).__name__})") from None
    need = ["theta", "opt_stat", "T", "eps_finals", "wall_s", "resumes"] + (["theta_minus"] if cfg.head == "q" else [])
    problem = resume_problem(ckpt, need)
    if problem:
        raise ConfigError(f"cannot resume {run_dir}: {problem}")
    n_params = build_network(cfg, obs_shape, n_actions).n_params
    if ckpt["theta"].shape != (n_params,) or ckpt["opt_stat"].shape != (n_params,):
        raise ConfigError(f"cannot resume {run_dir}: checkpoint.npz holds {ckpt['theta'].size:,} parameters, "
                          f"the run's network {n_params:,}: it is another network's")
    if ckpt["eps_finals"].shape != (cfg.workers,):
        raise ConfigError(f"cannot resume {run_dir}: checkpoint.npz has {ckpt['eps_finals'].size} workers' "
                          f"epsilons, the run {cfg.workers} workers")
    T = int(ckpt["T"])
    if args.steps is not None:
        if args.steps < T:
            raise ConfigError(f"--steps {args.steps:,} does not extend the run: it is at T={T:,}")
        cfg.steps = args.steps
    if T > cfg.steps:           # the workers run while T <= T_max
        raise ConfigError(f"{run_dir} has finished (T={T:,} of --steps {cfg.steps:,}); give a larger "
                          "--steps to extend it")
    cfg.out = run_dir
    validate(cfg)
    restored = dict(ckpt)
    restored["config_json"] = d          # the folder's config.json as it was: its commands
    restored["snapshot"] = None
    if cfg.deterministic:
        try:
            restored["snapshot"] = decode_snapshot(ckpt)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot resume {run_dir}: its snapshot is corrupt ({type(e).__name__})") from None
    return cfg, env_spec(cfg.env), restored


def full_option(parser, token):
    """The option a command-line token names, abbreviations resolved as argparse resolves them."""
    name = token.split("=")[0]
    options = [o for action in parser._actions for o in action.option_strings]
    if name in options:
        return name
    matches = [o for o in options if o.startswith(name)]
    return matches[0] if len(matches) == 1 else name
