"""python -m refasync.evaluate: the policies, the Atari protocol (30 episodes, 1-30 no-op
starts, 108,000-frame cap, both policies, evaluation.json), sticky actions, and scores
that do not depend on the number of processes."""
import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from refasync import evaluate as ev
from refasync.config import Config
from refasync.envs import make_env
from refasync.nn import build_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def cartpole(algo="a3c", seed=0):
    cfg = Config(algo=algo, env="CartPole-v1", network="mlp", hidden=(16,))
    net = build_network(cfg, (4,), 2)
    return cfg, net, net.init(np.random.default_rng(seed))


@pytest.mark.slow
@pytest.mark.parametrize("algo, greedy", [("a3c", False), ("a3c", True), ("q", False)])
def test_scores_do_not_depend_on_the_number_of_processes(algo, greedy):
    """Episode k: reset(seed + k) and the stream default_rng([seed, k]), wherever it is played."""
    cfg, net, theta = cartpole(algo)
    one = ev.evaluate(cfg, net, theta, 5, seed=7, greedy=greedy, epsilon=0.3, details=True)
    two = ev.evaluate(cfg, net, theta, 5, seed=7, greedy=greedy, epsilon=0.3, processes=2, details=True)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)
    if not greedy:       # sampled play draws from the stream: another seed, other episodes
        other = ev.evaluate(cfg, net, theta, 5, seed=8, greedy=greedy, epsilon=0.3)
        assert not np.array_equal(one[0], other)


class Endless(gym.Env):
    """Never terminates: every episode is cut by the cap."""
    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, a):
        return np.zeros(4, np.float32), 1.0, False, False, {}


def test_an_episode_is_cut_at_max_steps_and_says_so():
    cfg, net, theta = cartpole()
    policy = ev.Policy("greedy", net.head)
    assert ev.play_episode(Endless(), net, theta, policy, 0, np.random.default_rng(0), 37) == (37.0, 37, True)
    env = make_env("CartPole-v1")
    score, steps, cut = ev.play_episode(env, net, theta, policy, 0, np.random.default_rng(0), 10_000)
    assert not cut and steps == score and steps < 500         # an untrained pole falls: terminated


def test_atari_episodes_are_capped_at_108000_frames():
    cfg = Config(algo="a3c", env="ALE/Pong-v5", network="atari")
    assert ev.max_steps_of(cfg) * 4 == 108_000 == ev.ATARI_MAX_EPISODE_FRAMES
    assert ev.max_steps_of(Config()) == ev.MAX_EPISODE_STEPS


@pytest.mark.parametrize("head, atari, greedy, sample, eps, expected", [
    ("actor_critic", True, False, False, None, [("greedy", 0.0), ("sampled", 0.0)]),
    ("q", True, False, False, None, [("greedy", 0.0), ("sampled", 0.05)]),
    ("q", True, False, False, 0.01, [("greedy", 0.0), ("sampled", 0.01)]),
    ("actor_critic", False, False, False, None, [("greedy", 0.0)]),
    ("q", False, False, False, 0.2, [("sampled", 0.2)]),            # --epsilon alone, as before
    ("actor_critic", True, True, False, None, [("greedy", 0.0)]),
    ("q", False, False, True, None, [("sampled", 0.05)]),
    ("gaussian", False, False, True, None, [("sampled", 0.0)]),
])
def test_which_policies_are_played(head, atari, greedy, sample, eps, expected):
    assert ev.select_policies(head, atari, greedy, sample, eps) == expected


def test_sticky_actions_are_the_emulators_repeat_probability():
    plain, sticky = make_env("ALE/Pong-v5"), make_env("ALE/Pong-v5", sticky_actions=True)
    assert plain.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    assert sticky.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    # the same actions from the same reset: sticky play leaves the deterministic path
    rng = np.random.default_rng(0)
    actions = rng.integers(6, size=300)
    frames = []
    for env in (plain, sticky):
        env.reset(seed=3)
        frames.append([np.asarray(env.step(int(a))[0])[-1] for a in actions])
        env.close()
    assert any(not np.array_equal(a, b) for a, b in zip(*frames))


def test_save_evaluation_merges_policies_and_replaces_a_broken_file(tmp_path):
    (tmp_path / "evaluation.json").write_text("{not json")
    assert ev.save_evaluation(str(tmp_path), {"greedy": {"mean": 1.0}})
    ev.save_evaluation(str(tmp_path), {"sampled": {"mean": 2.0}})
    ev.save_evaluation(str(tmp_path), {"greedy": {"mean": 3.0}})
    assert json.loads((tmp_path / "evaluation.json").read_text()) == {"greedy": {"mean": 3.0},
                                                                        "sampled": {"mean": 2.0}}


@pytest.mark.slow
def test_the_atari_protocol_from_the_command_line(tmp_path):
    """On an Atari run folder: both policies, the protocol's keys, one score per episode."""
    out = tmp_path / "pong"
    r = run(["refasync.train", "--algo", "a3c", "--env", "ALE/Pong-v5", "--steps", "200", "--workers", "1",
             "--no-progress", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    r = run(["refasync.evaluate", str(out), "--episodes", "2", "--processes", "2", "--no-progress"])
    assert r.returncode == 0, r.stderr
    assert "greedy (argmax pi)" in r.stdout and "sampled from pi" in r.stdout and "evaluation.json" in r.stdout
    d = json.loads((out / "evaluation.json").read_text())
    assert set(d) == {"greedy", "sampled"}
    for key, e in d.items():
        p = e["protocol"]
        assert (p["noop_max"], p["max_episode_frames"], p["episodes"], p["sticky_actions"]) == (30, 108_000, 2, 0.0)
        assert p["policy"] == ("greedy (argmax pi)" if key == "greedy" else "sampled from pi")
        assert p["T"] >= 200 and p["frames"] == 4 * p["T"]
        assert len(e["scores"]) == 2 and all(-21 <= s <= 21 for s in e["scores"])
        assert e["mean"] == pytest.approx(np.mean(e["scores"])) and e["std"] == pytest.approx(np.std(e["scores"]))
    # a sticky-action evaluation is added next to them, not over them
    r = run(["refasync.evaluate", str(out), "--episodes", "1", "--sample", "--sticky-actions", "--no-progress"])
    assert r.returncode == 0, r.stderr
    d = json.loads((out / "evaluation.json").read_text())
    assert set(d) == {"greedy", "sampled", "sampled+sticky"}
    assert d["sampled+sticky"]["protocol"]["sticky_actions"] == 0.25


@pytest.mark.slow
def test_bad_evaluate_input_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "cp"
    r = run(["refasync.train", "--steps", "500", "--workers", "1", "--no-progress", "--eval-episodes", "0",
             "--out", str(out)])
    assert r.returncode == 0, r.stderr
    for extra in (["--sticky-actions"], ["--episodes", "0"], ["--processes", "-1"], ["--epsilon", "2"]):
        r = run(["refasync.evaluate", str(out), *extra])
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (extra, r.stderr)
