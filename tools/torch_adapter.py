"""An example cross-check adapter written in PyTorch (PyTorch is not a refasync
dependency).  It computes everything with torch and autograd, the way a port
would, and maps refasync's flat parameter layout onto torch modules.

    pip install torch
    python -m refasync.crosscheck --adapter tools/torch_adapter.py

Layout mapping (README "Using refasync as a reference"): refasync stores, per
layer, the weight then the bias; a dense weight is (K_in, K_out), i.e. the
transpose of ``nn.Linear.weight``; a conv weight is (KH, KW, C_in, C_out), i.e.
``conv.weight.permute(2, 3, 1, 0)`` of PyTorch's (C_out, C_in, KH, KW).
"""
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def t(x):
    return torch.as_tensor(np.asarray(x))


def segment_returns(rewards, terminated, truncated, v_last, gamma):
    R = 0.0 if terminated else float(v_last)     # a truncation still bootstraps
    out = torch.empty(len(rewards))
    for i in reversed(range(len(rewards))):      # i = t-1, ..., t_start
        R = float(rewards[i]) + gamma * R
        out[i] = R
    return out.numpy()


def one_step_q_target(r, q_next_minus, terminal, gamma):
    boot = torch.where(t(terminal), 0.0, t(q_next_minus).max(dim=1).values)
    return (t(r) + gamma * boot).numpy()


def one_step_sarsa_target(r, q_next_minus, a_next, terminal, gamma):
    q = t(q_next_minus).gather(1, t(a_next).long()[:, None])[:, 0]
    return (t(r) + gamma * torch.where(t(terminal), 0.0, q)).numpy()


def q_loss_grad(q, a, y):
    q = t(q).clone().requires_grad_(True)
    loss = ((t(y) - q.gather(1, t(a).long()[:, None])[:, 0]) ** 2).sum()
    loss.backward()
    return q.grad.numpy()


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    logits = t(logits).clone().requires_grad_(True)
    v = t(v).clone().requires_grad_(True)
    log_pi = F.log_softmax(logits, dim=1)
    entropy = -(log_pi.exp() * log_pi).sum(dim=1)
    advantage = t(R) - v
    policy = -(log_pi.gather(1, t(a).long()[:, None])[:, 0] * advantage.detach())
    loss = (policy - beta * entropy + value_scale * advantage ** 2).sum()
    loss.backward()
    return logits.grad.numpy(), v.grad.numpy()


def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
    sizes = [obs.shape[1]] + [int(h) for h in hidden] + [n_actions + (head == "actor_critic")]
    layers, offset = [], 0
    for k_in, k_out in zip(sizes[:-1], sizes[1:]):
        linear = torch.nn.Linear(k_in, k_out)
        with torch.no_grad():   # refasync's (K_in, K_out) weight is Linear.weight.T
            linear.weight.copy_(t(theta[offset:offset + k_in * k_out]).reshape(k_in, k_out).T)
            linear.bias.copy_(t(theta[offset + k_in * k_out:offset + k_in * k_out + k_out]))
        offset += k_in * k_out + k_out
        layers.append(linear)
    x = t(obs)
    for i, layer in enumerate(layers):
        x = layer(x)
        if i < len(layers) - 1:
            x = torch.relu(x)
    x.backward(t(d_out))
    grads = []
    for layer in layers:
        grads += [layer.weight.grad.T.reshape(-1), layer.bias.grad]
    return x.detach().numpy(), torch.cat(grads).numpy()


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    theta, g = t(theta).clone(), t(g).clone()
    for d in d_thetas:
        d = t(d)
        g = alpha * g + (1 - alpha) * d * d
        theta = theta - lr * d / torch.sqrt(g + eps)    # eps inside the root, as the paper
    return theta.numpy(), g.numpy()
