"""The paper's Atari pipeline on real ALE games, with tiny budgets."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from refasync.envs import EpisodeEnv, env_spec, make_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pong_observations_are_4_stacked_84x84_uint8_frames():
    assert env_spec("ALE/Pong-v5") == ((4, 84, 84), 6, 4)
    env = make_env("ALE/Pong-v5")
    obs, _ = env.reset(seed=0)
    obs = np.asarray(obs)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    for _ in range(10):
        obs, *_ = env.step(0)
    obs = np.asarray(obs)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and obs.max() > obs.min()
    env.close()


@pytest.mark.parametrize("game", ["ALE/Pong-v5", "ALE/Breakout-v5"])
def test_pipeline_equals_gymnasiums_atari_preprocessing_and_frame_stack(game):
    """AtariPipeline is written out for speed; observation for observation, reward
    for reward it must be gymnasium's AtariPreprocessing + FrameStackObservation(4)
    on the default (RGB) emulator env, across game ends and resets."""
    import ale_py
    import gymnasium as gym
    gym.register_envs(ale_py)
    theirs = gym.wrappers.FrameStackObservation(gym.wrappers.AtariPreprocessing(
        gym.make(game, frameskip=1, repeat_action_probability=0.0), noop_max=30, frame_skip=4,
        screen_size=84, terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False), 4)
    ours = make_env(game)
    rng = np.random.default_rng(0)
    ends = 0
    for episode in range(2):
        seed = 3 if episode == 0 else None
        a_obs, b_obs = theirs.reset(seed=seed)[0], ours.reset(seed=seed)[0]
        assert np.array_equal(a_obs, b_obs)
        for _ in range(3000):
            a = int(rng.integers(theirs.action_space.n))
            (a_obs, a_r, a_te, a_tr, _), (b_obs, b_r, b_te, b_tr, _) = theirs.step(a), ours.step(a)
            assert np.array_equal(a_obs, b_obs) and (a_r, a_te, a_tr) == (b_r, b_te, b_tr)
            if a_te or a_tr:
                ends += 1
                break
    assert ends >= 1 and np.asarray(b_obs).std() > 0
    theirs.close(), ours.close()


def test_action_repeat_and_noop_starts():
    env = make_env("ALE/Pong-v5")
    ale = env.unwrapped.ale
    starts = set()
    for seed in range(8):
        env.reset(seed=seed)
        start = ale.getEpisodeFrameNumber()
        starts.add(start)
        assert 0 <= start <= 30                       # up to 30 no-op frames after reset
        for k in range(1, 6):
            env.step(env.action_space.sample())
            assert ale.getEpisodeFrameNumber() == start + 4 * k    # action repeat 4
    assert len(starts) > 1                            # the number of no-ops is random
    env.close()


def test_reward_clipping_does_not_leak_into_the_logged_score():
    episodes = []
    env = EpisodeEnv(make_env("ALE/SpaceInvaders-v5"), 0, True, lambda s, n: episodes.append((s, n)))
    env.reset()
    rng = np.random.default_rng(0)
    learner, raw = [], 0.0
    for _ in range(400):
        _, r, terminal, truncated = env.step(rng.integers(6))
        learner.append(r)
        if terminal or truncated:
            break
    raw = env.score
    assert all(-1.0 <= r <= 1.0 for r in learner)
    assert raw > sum(learner) > 0        # invaders are worth 5-30 points; the learner sees 1
    env.close()


def test_life_loss_terminal_keeps_playing_the_same_game():
    episodes = []
    env = EpisodeEnv(make_env("ALE/Breakout-v5"), 0, True, lambda s, n: episodes.append((s, n)),
                     life_loss_terminal=True)
    env.reset()
    ale = env.env.unwrapped.ale
    lives, life_terminals = ale.lives(), 0
    rng = np.random.default_rng(0)
    while not episodes:
        _, _, terminal, truncated = env.step(rng.integers(4))
        if terminal or truncated:
            if not episodes:               # a life, not the game: reset continues the game
                life_terminals += 1
                frame = ale.getEpisodeFrameNumber()
                env.reset()
                assert ale.getEpisodeFrameNumber() == frame
            else:
                break
    assert life_terminals == lives - 1 and len(episodes) == 1
    env.close()


@pytest.mark.parametrize("workers, t_max", [(1, 20), (2, 20), (4, 20), (5, 5), (16, 5), (64, 5)])
def test_atari_a3c_t_max_follows_the_number_of_workers(tmp_path, workers, t_max):
    """DECISION 1's bound: t_max 20 while (N - 1) * 20 <= 75, the staleness measured safe."""
    from refasync.train import build_parser, resolve_config
    args = build_parser().parse_args(["--algo", "a3c", "--env", "ALE/Pong-v5", "--workers", str(workers),
                                      "--out", str(tmp_path / "run")])
    assert resolve_config(args).t_max == t_max
    args = build_parser().parse_args(["--env", "ALE/Pong-v5", "--workers", str(workers), "--t-max", "7",
                                      "--out", str(tmp_path / "run")])
    assert resolve_config(args).t_max == 7                    # a flag always wins
    args = build_parser().parse_args(["--algo", "nq", "--env", "ALE/Pong-v5", "--workers", str(workers),
                                      "--out", str(tmp_path / "run")])
    assert resolve_config(args).t_max == 5                    # only A3C's segment depends on N


@pytest.mark.parametrize("algo", ["a3c", "q", "sarsa", "nq"])
def test_the_atari_preset_makes_a_lost_life_terminal_and_the_flag_can_turn_it_off(tmp_path, algo):
    """DECISION 5: on for every method on Atari; --no-life-loss-terminal gives the old runs."""
    from refasync.train import build_parser, resolve_config
    base = ["--algo", algo, "--env", "ALE/Breakout-v5", "--workers", "2"]
    assert resolve_config(build_parser().parse_args(base + ["--out", str(tmp_path / "a")])).life_loss_terminal
    cfg = resolve_config(build_parser().parse_args(base + ["--no-life-loss-terminal", "--out", str(tmp_path / "b")]))
    assert cfg.life_loss_terminal is False
    cfg = resolve_config(build_parser().parse_args(["--algo", algo, "--env", "CartPole-v1", "--out",
                                                    str(tmp_path / "c")]))
    assert cfg.life_loss_terminal is False                       # not an Atari run: no lives


def test_a_preset_may_set_the_workers_and_the_flag_overrides_it(tmp_path, monkeypatch):
    """The number of workers is --workers, else the preset's, else the cores; DECISION 1's
    bound sees that number."""
    from refasync import config
    from refasync.train import build_parser, resolve_config
    monkeypatch.setitem(config.PRESETS["atari"], "a3c", {**config.PRESETS["atari"]["a3c"], "workers": 8})
    cfg = resolve_config(build_parser().parse_args(["--env", "ALE/Pong-v5", "--out", str(tmp_path / "a")]))
    assert (cfg.workers, cfg.t_max) == (8, 5)
    cfg = resolve_config(build_parser().parse_args(["--env", "ALE/Pong-v5", "--workers", "2",
                                                    "--out", str(tmp_path / "b")]))
    assert (cfg.workers, cfg.t_max) == (2, 20)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["q", "sarsa", "nq", "a3c"])
def test_smoke_run_on_pong(tmp_path, algo):
    out = tmp_path / algo
    r = subprocess.run([sys.executable, "-m", "refasync.train", "--algo", algo, "--env", "ALE/Pong-v5",
                        "--steps", "300", "--workers", "2", "--no-progress", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "A.L.E" not in r.stdout + r.stderr and "Stella" not in r.stdout + r.stderr   # no banner per worker
    config = json.loads((out / "config.json").read_text())
    assert config["network"] == "atari" and config["clip_rewards"] and config["frames_per_step"] == 4
    # t_max: the paper's 5, except A3C's 20 with one worker per core (DECISION 1)
    assert config["I_target"] == 10_000 and config["t_max"] == (20 if algo == "a3c" else 5)
    assert config["lr"] == 7e-4
    with np.load(out / "checkpoint.npz", allow_pickle=False) as z:
        assert z["theta"].shape == (config["n_params"],) and np.all(np.isfinite(z["theta"]))
    assert "frames" in (out / "progress.csv").read_text().splitlines()[0]
