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

import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from . import __version__  # noqa: E402
from . import config  # noqa: E402
from .cli import OneLineParser, available_cores  # noqa: E402
from .config import Config, ConfigError, preset, resolve_algo, validate  # noqa: E402


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


def main(argv=None):
    from .config import family
    from .envs import env_spec
    from .errors import RunFolderError
    from .exits import run_and_save
    from .logs import RunRecorder, plot_learning_curve, write_config
    from .nn import build_network
    from .resume import prepare_resume
    from .warmup import warm_up

    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    argv = list(sys.argv[1:] if argv is None else argv)
    restored = None
    try:
        if args.eval_episodes is not None and args.eval_episodes < 0:
            raise ConfigError("--eval-episodes must be >= 0")
        if args.resume:
            cfg, spec, restored = prepare_resume(args, argv, parser, resume_flags())
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
    status, message, shared = run_and_save(cfg, spec, theta0, recorder, restored)

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


if __name__ == "__main__":
    sys.exit(main())
