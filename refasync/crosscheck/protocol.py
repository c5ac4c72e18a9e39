"""The adapter protocol: the functions an adapter may provide, the arguments in the
order the cross-check passes them, the outputs, and what each function pins.

This table is the one source: ``RefasyncAdapter`` is checked against it (a test),
the cross-check names outputs from it, and the golden README's protocol section is
generated from it (``markdown_table``; ``python tools/make_reference.py --write``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..traces import REPLAY_OUTPUTS, SEGMENT_NAMES

TRACE_OUTPUTS = ("worker", "T", "loss", "grad_norm", "theta_sum", "theta_sumsq", "offsets", "a", "r",
                 "target")


@dataclass(frozen=True)
class Function:
    """One protocol function: ``name(*args) -> outputs``."""
    name: str
    args: tuple
    outputs: tuple
    returns: str          # what the outputs are (markdown)
    cases: str            # the golden cases that call it (markdown)
    pins: str             # the pseudocode lines and conventions it pins (markdown)
    optional: bool = False   # listed only when the adapter defines it (``trace``)
    optional_outputs: tuple = ()   # outputs an adapter may return as None (or leave out of a dict)

    @property
    def signature(self):
        return f"{self.name}({', '.join(self.args)})"


PROTOCOL = (
    Function("segment_returns", ("rewards", "terminated", "truncated", "v_last", "gamma"), ("R",),
             "`R` (n,): bootstrap 0 if `terminated`, else `v_last` (also on a time-limit truncation), "
             "then `R ← r_i + γ R` backwards", "`returns.*`",
             "Alg. 2 L19–21, Alg. 3 L15–17, truncation (ADDITION 9)"),
    Function("one_step_q_target", ("r", "q_next_minus", "terminal", "gamma"), ("y",),
             "`y` (B,): `r + γ max_a′ Q(s′, a′; θ⁻)`, `r` alone at a terminal", "`targets.one_step_q`",
             "Alg. 1 L9"),
    Function("one_step_sarsa_target", ("r", "q_next_minus", "a_next", "terminal", "gamma"), ("y",),
             "`y` (B,): `r + γ Q(s′, a′; θ⁻)` with a′ the action taken next, `r` alone at a terminal",
             "`targets.one_step_sarsa`", "Alg. 1 L9 (Sarsa)"),
    Function("q_loss_grad", ("q", "a", "y"), ("dL/dq",),
             "`dL/dq` (B, A) for `L = Σ (y − Q(s, a))²`", "`loss.q`", "Alg. 1 L10, Alg. 2 L22"),
    Function("a3c_loss_grad", ("logits", "v", "a", "R", "beta", "value_scale"), ("dL/dlogits", "dL/dv"),
             "`(dL/dlogits, dL/dv)` for `L = Σ [−log π(a\\|s)(R − V) − β H(π) + value_scale (R − V)²]`, "
             "the advantage held constant", "`a3c.*`", "Alg. 3 L18–19, ADDITIONS 1 and 3"),
    Function("gaussian_loss_grad", ("mu", "sigma2_in", "v", "a", "R", "beta", "value_scale"),
             ("dL/dmu", "dL/dsigma2_in", "dL/dv"),
             "`(dL/dmu, dL/dsigma2_in, dL/dv)` for `L = Σ [−log N(a; μ, σ²)(R − V) − β H + "
             "value_scale (R − V)²]`, `σ² = softplus(sigma2_in)`", "`gaussian.*`",
             "continuous A3C (supp. Sec. 9)"),
    Function("mlp_forward_backward", ("theta", "obs", "d_out", "hidden", "n_actions", "head"),
             ("out", "d_theta"), "`(out, d_theta)`: outputs, and d_theta accumulated from zero",
             "`network.mlp_*`", "the network and its flat layout"),
    Function("atari_forward_backward", ("theta", "obs", "d_out", "n_actions", "head"), ("out", "d_theta"),
             "`(out, d_theta)`", "`network.atari_*`", "the paper's Atari network and its flat layout"),
    Function("gaussian_forward_backward", ("theta", "obs", "d_out", "hidden", "action_dim", "spherical"),
             ("out", "d_theta"),
             "`(out, d_theta)`: out = [μ (D), sigma2_in (1 if spherical else D), V]",
             "`network.gaussian_*`",
             "the continuous-action networks: policy MLP then value MLP, sharing nothing, the "
             "policy's parameters first"),
    Function("conv2d_forward_backward", ("x", "w", "b", "stride", "dy"), ("y", "dx", "dw", "db"),
             "`(y, dx, dw, db)`", "`layer.conv2d_*`", "conv layer, NHWC, `(KH, KW, C_in, C_out)`"),
    Function("dense_forward_backward", ("x", "w", "b", "dy"), ("y", "dx", "dw", "db"),
             "`(y, dx, dw, db)`", "`layer.dense*`", "dense layer, `(K_in, K_out)`"),
    Function("rmsprop_steps", ("theta", "g", "d_thetas", "lr", "alpha", "eps"), ("theta", "g"),
             "`(theta, g)` after `len(d_thetas)` steps", "`rmsprop.*`", "shared RMSProp (ADDITION 4)"),
    Function("q_target_update",
             ("theta", "theta_minus", "s", "a", "r", "s_next", "terminated", "gamma", "hidden", "n_actions"),
             ("y", "d_theta"),
             "`(y, d_theta)`: `y = r + γ max_a′ Q(s′, a′; θ⁻)` (`y = r` where terminated), d_theta of "
             "`Σ (y − Q(s, a; θ))²` w.r.t. θ (MLP Q network)", "`update.q_target_network`",
             "Alg. 1 L9–10 with θ⁻ ≠ θ"),
    Function("replay", ("config", "theta0", *SEGMENT_NAMES), REPLAY_OUTPUTS,
             f"`({', '.join(REPLAY_OUTPUTS)})`, or a dict of them; `targets`, `loss`, `grad_norm` "
             "and `d_theta_first` may be None (or left out); raise `NotImplementedError` for an "
             "algorithm you do not provide (SKIP)", "`replay.<algo>.<N>w*`",
             "the whole box, from recorded segments (below)",
             optional_outputs=("targets", "loss", "grad_norm", "d_theta_first")),
    Function("trace", ("algo", "workers", "seed", "updates"), TRACE_OUTPUTS,
             f"`({', '.join(TRACE_OUTPUTS)})`", "`trace.<algo>.<N>w`",
             "the whole worker loop, run by the port itself (below); rows appear only if the "
             "adapter has it", optional=True),
)

BY_NAME = {f.name: f for f in PROTOCOL}


def output_name(function, i):
    """The name of output i of a protocol function (``output i`` past the table's)."""
    names = BY_NAME[function].outputs if function in BY_NAME else ()
    return names[i] if i < len(names) else f"output {i}"


def markdown_table():
    """The golden README's protocol table, one row per function."""
    lines = [f"An adapter provides any of these {len(PROTOCOL)} functions (missing ones are SKIP):", "",
             "| function | returns | case names | pins |", "|---|---|---|---|"]
    for f in PROTOCOL:
        name = f"`{f.signature}`" + (" *(optional)*" if f.optional else "")
        lines.append(f"| {name} | {f.returns} | {f.cases} | {f.pins} |")
    return "\n".join(lines)


BEGIN, END = "<!-- protocol: generated", "<!-- end of the generated protocol -->"


def with_protocol_section(readme):
    """The golden README's text with the part between its protocol markers
    regenerated from ``PROTOCOL`` (a test holds the committed README to it)."""
    head, rest = readme.split(BEGIN, 1)
    marker, _, rest = rest.partition("\n")
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}{marker}\n{markdown_table()}\n{END}{tail}"
