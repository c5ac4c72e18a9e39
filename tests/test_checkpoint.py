"""checkpoint.npz holds plain arrays only: the deterministic snapshot as JSON and arrays,
never a pickle; environments restore exactly from plain data."""
import ast
import os

import numpy as np
import pytest

from refasync.checkpoint import decode_snapshot, encode_snapshot, load_checkpoint, resume_problem
from refasync.envs import EpisodeEnv, make_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_snapshot_round_trips_through_plain_arrays(tmp_path):
    rng = np.random.default_rng(5)
    snap = {"next": 1, "workers": [
        {"rng": rng.bit_generator.state, "carry": {"t": np.int64(7), "s": np.arange(4.0), "a": 2},
         "thread_stat": None, "env": {"frames": [np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)],
                                      "score": -3.5, "game_over": False, "seed": None}},
        {"rng": rng.bit_generator.state, "carry": None, "thread_stat": np.full(3, 0.25, np.float32), "env": {}}]}
    np.savez(tmp_path / "c.npz", theta=np.zeros(3), **encode_snapshot(snap))
    back = decode_snapshot(load_checkpoint(tmp_path / "c.npz"))
    assert back["next"] == 1 and back["workers"][0]["rng"] == rng.bit_generator.state
    assert back["workers"][0]["carry"]["t"] == 7 and np.array_equal(back["workers"][0]["carry"]["s"], np.arange(4.0))
    f = back["workers"][0]["env"]["frames"]
    assert [x.dtype for x in f] == [np.uint8, np.uint8] and f[1].sum() == 4
    assert back["workers"][1]["thread_stat"].dtype == np.float32 and back["workers"][0]["thread_stat"] is None
    assert decode_snapshot({"theta": np.zeros(3)}) is None


@pytest.mark.parametrize("bad", [{"x": object()}, {1: "int key"}, {"x": {"__array__": "snapshot/0"}}])
def test_a_snapshot_refuses_what_is_not_plain_data(bad):
    with pytest.raises(TypeError):
        encode_snapshot(bad)


def test_a_checkpoint_holding_a_pickle_is_refused(tmp_path):
    ckpt = {"format_version": np.array(2), "theta": np.zeros(2), "worker_states": np.frombuffer(b"\x80\x04.",
                                                                                              np.uint8)}
    assert "holds a pickle" in resume_problem(ckpt, ["theta"])
    assert resume_problem({**ckpt, "format_version": np.array(1)}, ["theta"]).startswith("checkpoint.npz is format 1")
    del ckpt["worker_states"]
    assert resume_problem(ckpt, ["theta"]) is None and "lacks T" in resume_problem(ckpt, ["theta", "T"])
    np.savez(tmp_path / "c.npz", theta=np.array([{"a": 1}], dtype=object))      # an object array: a pickle
    with pytest.raises(ValueError, match="allow_pickle"):
        load_checkpoint(tmp_path / "c.npz")


def test_no_module_unpickles_or_loads_with_pickles_allowed():
    for folder in ("refasync", "tools"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in (f for f in files if f.endswith(".py")):
                path = os.path.join(dirpath, name)
                tree = ast.parse(open(path).read())
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                        assert not {"pickle", "cPickle", "dill", "joblib"} & set(names), path
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" \
                            and getattr(node.func.value, "id", None) == "np":
                        kw = {k.arg: k.value for k in node.keywords}
                        assert "allow_pickle" in kw and kw["allow_pickle"].value is False, \
                            f"{path}:{node.lineno}: np.load without allow_pickle=False"


def roll(env, rng, n, box=False):
    for _ in range(n):
        a = rng.uniform(-1, 1, env.env.action_space.shape) if box else rng.integers(env.env.action_space.n)
        obs, r, terminal, truncated = env.step(a)
        if terminal or truncated:
            env.reset()
    return np.asarray(env._obs)


@pytest.mark.parametrize("env_id, box", [("CartPole-v1", False), ("FrozenLake-v1", False), ("Pendulum-v1", True),
                                         ("InvertedPendulum-v5", True), ("ALE/Breakout-v5", False)])
def test_an_environment_continues_exactly_from_its_plain_state(tmp_path, env_id, box):
    """state() -> checkpoint arrays -> a fresh env's restore(): the same future, step for step,
    across episode ends (MuJoCo too, which pickled only its constructor before)."""
    if env_id.startswith("InvertedPendulum"):
        pytest.importorskip("mujoco")
    ends_a, ends_b = [], []
    a = EpisodeEnv(make_env(env_id), 11, False, lambda s, n: ends_a.append((s, n)))
    a.reset()
    roll(a, np.random.default_rng(0), 57, box)
    np.savez(tmp_path / "c.npz", **encode_snapshot(a.state()))
    b = EpisodeEnv(make_env(env_id), 11, False, lambda s, n: ends_b.append((s, n)))
    b.restore(decode_snapshot(load_checkpoint(tmp_path / "c.npz")))
    del ends_a[:]
    n = 100 if env_id.startswith("ALE") else 600
    assert np.array_equal(roll(a, np.random.default_rng(1), n, box), roll(b, np.random.default_rng(1), n, box))
    assert (a.score, a.length) == (b.score, b.length) and ends_a == ends_b
    if not env_id.startswith("ALE"):
        assert len(ends_a) >= 1          # the restored env also continued the reset stream exactly
    a.close(), b.close()


def test_a_replay_that_does_not_reach_the_saved_state_is_refused():
    a = EpisodeEnv(make_env("CartPole-v1"), 3, False, lambda s, n: None)
    a.reset()
    roll(a, np.random.default_rng(0), 5)
    state = a.state()
    state["obs"] = state["obs"] + 1.0
    b = EpisodeEnv(make_env("CartPole-v1"), 3, False, lambda s, n: None)
    with pytest.raises(RuntimeError, match="did not replay"):
        b.restore(state)
