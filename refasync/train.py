"""python -m refasync.train: train one of the four algorithms.

    python -m refasync.train --algo sarsa                 # CartPole-v1, its preset
    python -m refasync.train --algo a3c --env ALE/Pong-v5 # the paper's Atari settings

Exit codes: 0 done, 1 a worker failed or the parameters went non-finite,
2 bad input, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).  On every
exit path the logs and the last good checkpoint are in the run folder.
"""
from __future__ import annotations

import time

START_UNIX = time.time()      # for the start-up time reported in summary.json

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from . import __version__  # noqa: E402
from . import config  # noqa: E402
from .cli import OneLineParser, available_cores  # noqa: E402
from .config import Config, ConfigError, preset, resolve_algo, validate  # noqa: E402


class _Terminated(BaseException):
    """Raised in the parent on SIGTERM, handled like Ctrl-C."""


# The options of this command that are not settings of the run (refasync.config declares
# those, each once): all of them may be given with --resume.
COMMAND_OPTIONS = {
    "--no-progress": dict(action="store_true", help="no progress bar"),
    "--tensorboard": dict(action="store_true",
                          help="also write TensorBoard event files in the run folder (needs the tensorboard "
                               "extra: pip install 'refasync[tensorboard]')"),
    "--eval-episodes": dict(type=int, default=None,
                            help="greedy evaluation episodes after training (default 20, Atari 0)"),
}


def resume_flags(config_cls=Config):
    """The flags --resume accepts: the run's settings come from its folder."""
    return ["--resume", *config.resume_flags(config_cls), *COMMAND_OPTIONS]


def build_parser(config_cls=Config):
    p = OneLineParser(prog="python -m refasync.train",
                      description="Train one of the asynchronous algorithms of Mnih et al. 2016.")
    hyper = p.add_argument_group("hyperparameters (defaults: the environment family's preset)")
    config.add_arguments(p, hyper, config_cls)
    for name, kw in COMMAND_OPTIONS.items():
        p.add_argument(name, **kw)
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a stopped or finished run from its checkpoint; only --steps (to "
                        f"extend it) and {', '.join(resume_flags(config_cls)[2:])} may be given with it")
    return p


def resolve_config(args):
    algo = resolve_algo(args.algo)
    workers = args.workers                            # --workers, else the preset's, else the cores
    if workers is None:
        workers = preset(algo, args.env).get("workers", available_cores())
    cfg = Config(algo=algo, env=args.env, seed=args.seed)
    for k, v in preset(algo, args.env, workers).items():      # some values depend on the workers
        setattr(cfg, k, v)
    cfg.workers = workers
    for f in config.fields("learning"):                 # a flag given overrides the preset (and --deterministic)
        v = getattr(args, f.name, None)
        if v is not None and f.name != "workers":
            setattr(cfg, f.name, v)
    if cfg.workers <= 0:
        raise ConfigError(f"--workers must be a positive integer, got {cfg.workers}")
    if args.out:
        cfg.out = args.out
    else:
        base = os.path.join("runs", f"{algo}-{re.sub(r'[^A-Za-z0-9.-]+', '_', args.env)}-"
                                    f"{time.strftime('%Y%m%d-%H%M%S')}")
        cfg.out, k = base, 1
        while os.path.exists(cfg.out):          # two runs started in the same second
            k += 1
            cfg.out = f"{base}-{k}"
    if cfg.network == "gaussian" and not cfg.linear_mu:
        from .envs import has_bounded_actions
        if not has_bounded_actions(cfg.env):
            raise ConfigError(f"{cfg.env} has unbounded actions: the tanh mean needs finite bounds; "
                              "use --linear-mu")
    return validate(cfg)


def print_config(cfg, spec, n_params):
    obs_shape, n_actions, fps = spec
    print(f"refasync {__version__}: {cfg.algo} on {cfg.env} "
          f"(obs {obs_shape}, {n_actions} actions, {cfg.network} network, {n_params:,} parameters)")
    print("  " + "  ".join(f"{k}={getattr(cfg, k)}" for k in config.shown_settings(cfg)))
    print(f"  run folder: {cfg.out}   (steps count agent steps; 1 step = {fps} frame(s))")


def prepare_resume(args, argv):
    """(cfg, spec, restored) of the run folder ``args.resume``, or ConfigError with
    one line; nothing in the folder is changed before every check has passed."""
    from .checkpoint import decode_snapshot, load_checkpoint, resume_problem
    from .envs import env_spec
    from .logs import RunRecorder
    from .nn import build_network
    run_dir = args.resume
    parser = build_parser()
    given = [full_option(parser, a) for a in argv if a.startswith("--")]
    allowed = resume_flags()
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
    for name, columns in (("episodes.csv", RunRecorder.EPISODE_COLUMNS), ("progress.csv", RunRecorder.PROGRESS_COLUMNS)):
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


def warm_up(net, dtype):
    """Compile (or load from Numba's cache) every kernel in this process first,
    so that workers start from a warm cache."""
    from . import optim
    from .atomic import fetch_add
    fetch_add(np.zeros(1, np.int64), 0, 1)
    theta = net.init(np.random.default_rng(0), dtype)
    obs = np.zeros((1,) + net.input_shape, dtype=np.uint8 if net.input_kind == "pixels" else dtype)
    out, cache = net.forward(theta, obs)
    net.backward(theta, cache, np.zeros_like(out), np.zeros_like(theta))
    z = np.zeros_like(theta)
    optim.rmsprop_step(z, z.copy(), z, 0.0, 0.99, 0.1, 1.0)
    optim.momentum_sgd_step(z, z.copy(), z, 0.0, 0.99, 1.0)
    optim.grad_norm(z)
    if net.head == "gaussian":
        from .nn.kernels import softplus_backward, softplus_forward
        x = np.zeros(1)
        softplus_forward(x, x.copy())
        softplus_backward(x, x.copy(), x.copy())


def main(argv=None):
    from .config import family
    from .envs import env_spec
    from .checkpoint import load_checkpoint
    from .errors import NonFiniteError, RunFolderError, WorkerFailed
    from .logs import RunRecorder, plot_learning_curve, write_config
    from .nn import build_network
    from .runner import run_deterministic, run_processes

    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    argv = list(sys.argv[1:] if argv is None else argv)
    restored = None
    try:
        if args.eval_episodes is not None and args.eval_episodes < 0:
            raise ConfigError("--eval-episodes must be >= 0")
        if args.resume:
            cfg, spec, restored = prepare_resume(args, argv)
        else:
            cfg = resolve_config(args)
            spec = env_spec(cfg.env)
            if cfg.network in ("mlp", "gaussian") and len(spec[0]) != 1:
                raise ConfigError(f"{cfg.env} has image observations {spec[0]}; use an ALE/* id for the "
                                  "Atari network")
            if os.path.isdir(cfg.out) and os.listdir(cfg.out):
                raise ConfigError(f"{cfg.out} is not empty; choose another --out (runs are never overwritten)")
            try:
                os.makedirs(cfg.out, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot create the run folder {cfg.out}: {e.strerror}") from None
        if args.tensorboard:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                raise ConfigError("--tensorboard needs the tensorboard extra: "
                                  "pip install 'refasync[tensorboard]'   (tensorboardX)") from None
        if args.restart_workers is not None:
            cfg.restart_workers = args.restart_workers
            validate(cfg)
        if args.checkpoint_interval is not None:
            if not args.checkpoint_interval > 0:
                raise ConfigError("--checkpoint-every must be a positive number of seconds, "
                                  f"got {args.checkpoint_interval}")
            cfg.checkpoint_interval = args.checkpoint_interval
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    eval_episodes = args.eval_episodes if args.eval_episodes is not None else (
        0 if family(cfg.env) == "atari" else 20)

    net = build_network(cfg, spec[0], spec[1])
    print_config(cfg, spec, net.n_params)
    if restored is None:
        theta0 = net.init(np.random.default_rng(cfg.seed), np.dtype(cfg.dtype))
        command = [sys.executable, "-m", "refasync.train"] + argv
    else:
        theta0 = restored["theta"]
        previous = restored["config_json"]
        command = previous["command"]
        resume_commands = previous.get("resume_commands", []) + [[sys.executable, "-m", "refasync.train"] + argv]
        print(f"  resuming at T={int(restored['T']):,} ({int(restored['resumes']) + 1} resume(s) so far"
              f"{'; the workers start new episodes' if restored.get('snapshot') is None else ', exactly'})")
    warm_up(net, theta0.dtype)
    write_config(cfg.out, cfg, {"refasync_version": __version__, "command": command,
                 **({"resume_commands": resume_commands} if restored is not None else {}),
                 "obs_shape": list(spec[0]), "n_actions": spec[1], "frames_per_step": spec[2],
                 "n_params": net.n_params, "preset_sources": config.preset_sources()})

    recorder = RunRecorder(cfg.out, cfg, spec[2], progress=not args.no_progress, resume=restored)
    if args.tensorboard:
        recorder.open_tensorboard()
    checkpoint = os.path.join(cfg.out, "checkpoint.npz")
    old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    status, message, shared, non_finite = 0, None, None, False
    try:
        run = run_deterministic if cfg.deterministic else run_processes
        shared = run(cfg, spec, theta0, recorder, restored)
    except KeyboardInterrupt:
        status, message = 130, "interrupted"
    except _Terminated:
        status, message = 143, "terminated (SIGTERM)"
    except (WorkerFailed, NonFiniteError, RunFolderError) as e:
        status, message = 1, str(e)
        non_finite = isinstance(e, NonFiniteError) or getattr(e, "non_finite", False)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if recorder.shared is not None:
            shared = recorder.shared
            try:
                try:
                    recorder.tick()
                    # after NaN/Inf the parameters are not trusted: keep the last periodic checkpoint
                    if not non_finite:
                        recorder.checkpoint()      # the logs on disk first, as every periodic checkpoint
                except NonFiniteError as e:
                    status, message, non_finite = 1, message or str(e), True
                if non_finite:
                    status = 1
                    kept = (f"checkpoint.npz keeps T={int(load_checkpoint(checkpoint)['T']):,}"
                            if os.path.exists(checkpoint) else "no checkpoint had been saved yet")
                    message = f"{message}; {kept}"
            except (OSError, RunFolderError) as e:
                e = e if isinstance(e, RunFolderError) else RunFolderError.of(cfg.out, e)
                if not (message or "").startswith("cannot write"):
                    message = f"{message}; {e}" if message else str(e)
                status = 1
        recorder.close()

    T = min(shared.T.value, cfg.steps) if shared is not None else 0
    print(f"{'stopped' if status else 'done'}: T={T:,} ({T * spec[2]:,} frames) in {recorder.wall:.1f} s "
          f"({T / max(recorder.wall, 1e-9):,.0f} steps/s), {recorder.n_episodes} episodes, "
          f"mean return of the last 100 = {recorder.mean_100:.2f}")
    if status:
        print(f"{prog}: {message}", file=sys.stderr)
    try:
        recorder.write_summary(status, message, START_UNIX)
    except OSError as e:     # the run folder is gone or full
        if not status:
            print(f"{prog}: {RunFolderError.of(cfg.out, e)}", file=sys.stderr)
        return status or 1
    try:
        plot = plot_learning_curve(cfg.out, spec[2], f"{cfg.algo} on {cfg.env}")
        if status == 0 and eval_episodes:
            from .evaluate import evaluate, policy_label
            scores = evaluate(cfg, net, np.array(shared.theta), eval_episodes, seed=cfg.seed + 10_000)
            print(f"evaluation, {policy_label(net.head)}: {np.mean(scores):.2f} +- {np.std(scores):.2f} "
                  f"over {eval_episodes} episodes")
            recorder.write_summary(status, message, START_UNIX, {
                "greedy_eval_mean": float(np.mean(scores)), "greedy_eval_std": float(np.std(scores)),
                "greedy_eval_episodes": eval_episodes, "eval_policy": policy_label(net.head)})
    except KeyboardInterrupt:       # the run itself is saved; only the extras are skipped
        print(f"{prog}: interrupted after training; the run folder is complete", file=sys.stderr)
        return 130
    print(f"run folder: {cfg.out} (config.json, episodes.csv, progress.csv, checkpoint.npz, summary.json"
          f"{', learning_curve.png' if plot else ''})")
    return status


def _raise_terminated(signum, frame):
    raise _Terminated()


if __name__ == "__main__":
    sys.exit(main())
