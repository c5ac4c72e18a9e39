"""Small MDPs with values known in closed form, as gymnasium environments
with one-hot observations (so a linear network is a lookup table)."""
import gymnasium as gym
import numpy as np


class TabularEnv(gym.Env):
    """transitions[s][a] = (s_next, reward, terminal); episodes start in state 0."""

    def __init__(self, transitions, max_steps=100):
        self.transitions = transitions
        self.n_states = len(transitions)
        self.max_steps = max_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n_states,), np.float32)
        self.action_space = gym.spaces.Discrete(len(transitions[0]))
        self.s = 0
        self.t = 0

    def obs(self):
        o = np.zeros(self.n_states, np.float32)
        o[self.s] = 1.0
        return o

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s, self.t = 0, 0
        return self.obs(), {}

    def step(self, a):
        self.s, r, terminal = self.transitions[self.s][a]
        self.t += 1
        return self.obs(), float(r), terminal, self.t >= self.max_steps and not terminal, {}


def chain(n):
    """States 0..n-1; action 1 moves right, action 0 left (floor 0); entering
    state n-1 gives reward 1 and ends the episode.

    Q*(s, right) = gamma^(n-2-s);  Q*(s, left) = gamma * V*(max(s-1, 0)),
    V*(s) = gamma^(n-2-s)  for s = 0 .. n-2.
    """
    T = []
    for s in range(n - 1):
        right = s + 1
        T.append([(max(s - 1, 0), 0.0, False), (right, 1.0 if right == n - 1 else 0.0, right == n - 1)])
    T.append([(n - 1, 0.0, True), (n - 1, 0.0, True)])   # never reached as a start
    return T


def chain_q_star(n, gamma):
    V = np.array([gamma ** (n - 2 - s) for s in range(n - 1)])
    Q = np.zeros((n - 1, 2))
    for s in range(n - 1):
        Q[s, 1] = V[s]
        Q[s, 0] = gamma * V[max(s - 1, 0)]
    return Q


CLIFF_PENALTY = -10.0


def cliff():
    """State 0: action 0 goes to the risky state 1, action 1 to the safe state 2.
    State 1: action 0 reaches the goal (+1), action 1 falls off the cliff (-10).
    State 2: both actions reach the goal with +0.8.

    Q-learning (greedy target): Q(0,0) = gamma * 1 > Q(0,1) = gamma * 0.8: risky.
    Sarsa under epsilon-greedy: V(1) = (1 - eps/2) * 1 + eps/2 * (-10), so for
    eps = 0.3, Q(0,0) = gamma * (-0.65) < Q(0,1) = gamma * 0.8: safe.
    """
    return [
        [(1, 0.0, False), (2, 0.0, False)],
        [(1, 1.0, True), (1, CLIFF_PENALTY, True)],
        [(2, 0.8, True), (2, 0.8, True)],
    ]


class RaisingEnv(TabularEnv):
    """A chain that raises after ``fail_after`` steps: a worker that crashes."""

    def __init__(self, fail_after=50):
        super().__init__(chain(5))
        self.steps, self.fail_after = 0, fail_after

    def step(self, a):
        self.steps += 1
        if self.steps > self.fail_after:
            raise RuntimeError("boom from inside the environment")
        return super().step(a)


# Usable from spawned workers as gym.make("tests.mdps:RefasyncTest/Raise-v0")
if "RefasyncTest/Raise-v0" not in gym.registry:
    gym.register(id="RefasyncTest/Raise-v0", entry_point=RaisingEnv)


def endless():
    """One state, reward 1 per step whatever the action, never terminal: only the
    time limit ends an episode.  Bootstrapping on truncation (ADDITION 9) gives
    V = Q = 1 / (1 - gamma); treating truncation as terminal gives far less."""
    return [[(0, 1.0, False), (0, 1.0, False)]]
