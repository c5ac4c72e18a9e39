"""Each setting is declared once, in refasync.config.Config: its flag, help, the source of
its presets' value, whether --resume accepts it, whether a golden replay carries it and
when the printed configuration shows it.  Everything else is derived."""
import ast
import dataclasses
import os

from refasync import config
from refasync.config import Config, setting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Extended(Config):
    zeta_decay: float = setting(0.25, flag=True, parse=float, replay=True, resume=True, shown=True,
                                help="a new setting", source="a test")


def test_one_new_field_appears_everywhere():
    from refasync.train import build_parser, resume_flags
    parser = build_parser(Extended)
    assert parser.parse_args(["--zeta-decay", "0.5"]).zeta_decay == 0.5
    assert parser.parse_args([]).zeta_decay is None                 # not given: the preset decides
    assert "--zeta-decay" in resume_flags(Extended)
    assert config.preset_sources(Extended)["zeta_decay"] == "a test"
    assert "zeta_decay" in config.replay_settings(Extended)
    assert "zeta_decay" in config.compared_settings(Extended)
    assert "zeta_decay" in config.shown_settings(Extended())
    # and none of it leaks into the real Config
    assert "--zeta-decay" not in resume_flags() and "zeta_decay" not in config.replay_settings()


def test_the_derived_lists_are_the_documented_ones():
    from refasync.train import resume_flags
    assert resume_flags() == ["--resume", "--steps", "--checkpoint-every", "--restart-workers", "--no-progress",
                              "--tensorboard", "--eval-episodes"]
    assert set(config.replay_settings()) == {
        "algo", "env", "seed", "workers", "steps", "gamma", "lr", "lr_anneal", "optimizer", "rms_alpha",
        "rms_eps", "max_grad_norm", "t_max", "I_async_update", "I_target", "beta", "value_scale", "hidden",
        "dtype"}                          # what the golden replays were written with: they must not change
    assert not {"out", "progress_interval", "checkpoint_interval", "restart_workers", "extra"} & set(
        config.compared_settings())
    a3c, nq = Config(algo="a3c"), Config(algo="n-step-q")
    assert "beta" in config.shown_settings(a3c) and "I_target" not in config.shown_settings(a3c)
    assert "I_target" in config.shown_settings(nq) and "t_max" in config.shown_settings(nq)


def test_every_flagged_setting_has_a_flag_and_every_preset_value_a_source():
    preset_keys = set()
    for family in config.PRESETS.values():
        for values in family.values():
            preset_keys |= set(values)
    sources = config.preset_sources()
    assert preset_keys - {"workers", "hidden", "dtype"} <= set(sources) | {"workers"}, \
        f"preset values without a source: {sorted(preset_keys - set(sources))}"


def test_no_other_module_lists_settings():
    """A tuple, list or set of three or more setting names, or a dict keyed by them,
    outside refasync/config.py is a second declaration.  (The golden trace cases store
    algo, workers and seed as arrays under those names: a versioned file format.)"""
    names = {f.name for f in dataclasses.fields(Config)}
    offenders = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "refasync")):
        for name in (f for f in files if f.endswith(".py")):
            path = os.path.join(dirpath, name)
            if path.endswith(os.path.join("refasync", "config.py")):
                continue
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                    items = node.elts
                elif isinstance(node, ast.Dict):
                    items = [k for k in node.keys if k is not None]
                else:
                    continue
                strings = [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if os.sep + "crosscheck" + os.sep in path and set(strings) == {"algo", "workers", "seed", "updates"}:
                    continue
                if len(strings) >= 3 and sum(s in names for s in strings) >= 3:
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: {strings[:6]}")
    assert not offenders, "settings named outside config.py:\n" + "\n".join(offenders)
