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


def gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale):
    mu, x, v = (t(z).clone().requires_grad_(True) for z in (mu, sigma2_in, v))
    sigma2 = F.softplus(x).expand_as(mu)                 # one column: the same sigma^2 for every dimension
    dist = torch.distributions.Normal(mu, sigma2.sqrt())
    advantage = t(R) - v
    log_pi = dist.log_prob(t(a)).sum(dim=1)
    loss = (-log_pi * advantage.detach() - beta * dist.entropy().sum(dim=1) + value_scale * advantage ** 2).sum()
    loss.backward()
    return mu.grad.numpy(), x.grad.numpy(), v.grad.numpy()


class MLP(torch.nn.Module):
    """refasync's MLP: Linear + ReLU per hidden layer, a linear output layer."""

    def __init__(self, obs_dim, hidden, n_outputs):
        super().__init__()
        sizes = [obs_dim] + [int(h) for h in hidden] + [n_outputs]
        self.linears = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.linears):
            x = layer(x)
            if i < len(self.linears) - 1:
                x = torch.relu(x)
        return x

    def load_refasync(self, theta):
        """Copy a flat refasync theta in: per layer weight (K_in, K_out) = Linear.weight.T, then bias."""
        offset = 0
        with torch.no_grad():
            for layer in self.linears:
                k_out, k_in = layer.weight.shape
                layer.weight.copy_(t(theta[offset:offset + k_in * k_out]).reshape(k_in, k_out).T)
                layer.bias.copy_(t(theta[offset + k_in * k_out:offset + k_in * k_out + k_out]))
                offset += k_in * k_out + k_out
        return self

    def flat(self, tensors):
        """Per-layer (weight, bias) tensors, e.g. .grad, in refasync's flat order."""
        out = []
        for w, b in zip(tensors[0::2], tensors[1::2]):
            out += [w.T.reshape(-1), b]
        return torch.cat(out)

    def refasync_theta(self):
        return self.flat([p.detach() for layer in self.linears for p in (layer.weight, layer.bias)])

    def refasync_grad(self):
        return self.flat([p.grad for layer in self.linears for p in (layer.weight, layer.bias)])


def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
    net = MLP(obs.shape[1], hidden, n_actions + (head == "actor_critic")).load_refasync(theta)
    x = net(t(obs).double())        # float32 cases too: float64 inside, well within their tolerance
    x.backward(t(d_out).double())
    return x.detach().numpy(), net.refasync_grad().numpy()


def gaussian_forward_backward(theta, obs, d_out, hidden, action_dim, spherical):
    k = action_dim + (1 if spherical else action_dim)
    policy, value = MLP(obs.shape[1], hidden, k), MLP(obs.shape[1], hidden, 1)
    n_pi = sum(p.numel() for p in policy.parameters())      # the policy's parameters come first
    policy.load_refasync(theta[:n_pi])
    value.load_refasync(theta[n_pi:])
    x = t(obs)
    out = torch.cat([policy(x), value(x)], dim=1)
    out.backward(t(d_out))
    return out.detach().numpy(), torch.cat([policy.refasync_grad(), value.refasync_grad()]).numpy()


def q_target_update(theta, theta_minus, s, a, r, s_next, terminated, gamma, hidden, n_actions):
    online = MLP(s.shape[1], hidden, n_actions).load_refasync(theta)
    target = MLP(s.shape[1], hidden, n_actions).load_refasync(theta_minus)
    with torch.no_grad():           # y is a constant: computed from the TARGET network
        y = t(r) + gamma * torch.where(t(terminated), 0.0, target(t(s_next)).max(dim=1).values)
    q = online(t(s)).gather(1, t(a).long()[:, None])[:, 0]
    ((y - q) ** 2).sum().backward()
    return y.numpy(), online.refasync_grad().numpy()


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
           copy_after_step, copy_after_update):
    """The recorded updates applied in order to one shared theta, theta^- and RMSProp g."""
    import json
    c = json.loads(config)
    a3c = c["algo"] == "a3c"
    # float64 throughout, also on the *_f32 cases (their tolerance covers float32 ports)
    theta0, s, r, s_next = (np.asarray(x, dtype=np.float64) for x in (theta0, s, r, s_next))
    net = MLP(c["obs_dim"], c["hidden"], c["n_actions"] + a3c).load_refasync(theta0)
    target = MLP(c["obs_dim"], c["hidden"], c["n_actions"]).load_refasync(theta0)
    g = torch.zeros(len(theta0))
    out = {k: [] for k in ("targets", "loss", "grad_norm", "theta_sum", "theta_sumsq", "g_sum", "g_sumsq")}
    for k in range(len(worker)):
        j = range(offsets[k], offsets[k + 1])
        with torch.no_grad():
            if c["algo"] in ("one-step-q", "one-step-sarsa"):
                y = []
                for i in j:                 # theta^- may be copied between two steps of a segment
                    q_next = target(t(s_next[i])[None])[0]
                    boot = q_next[a_next[i]] if c["algo"] == "one-step-sarsa" else q_next.max()
                    y.append(r[i] + (0.0 if terminated[i] else c["gamma"] * float(boot)))
                    if copy_after_step[i]:
                        target.load_refasync(net.refasync_theta().numpy())
            else:
                last = offsets[k + 1] - 1
                boot = 0.0 if terminated[last] else float(
                    target(t(s_next[last])[None]).max() if not a3c else net(t(s_next[last])[None])[0, -1])
                y, R = [0.0] * len(j), boot
                for n, i in reversed(list(enumerate(j))):
                    R = r[i] + c["gamma"] * R
                    y[n] = R
        y = torch.tensor(y)
        net.zero_grad()
        out_k = net(t(s[offsets[k]:offsets[k + 1]]))
        a_k = t(a[offsets[k]:offsets[k + 1]]).long()[:, None]
        if a3c:
            log_pi, v = F.log_softmax(out_k[:, :-1], dim=1), out_k[:, -1]
            advantage = y - v
            entropy = -(log_pi.exp() * log_pi).sum(dim=1)
            loss = (-log_pi.gather(1, a_k)[:, 0] * advantage.detach() - c["beta"] * entropy
                    + c["value_scale"] * advantage ** 2).sum()
        else:
            loss = ((y - out_k.gather(1, a_k)[:, 0]) ** 2).sum()
        loss.backward()
        d_theta = net.refasync_grad()
        norm = float(d_theta.norm())
        # clip exactly: torch.nn.utils.clip_grad_norm_ would use max_norm / (norm + 1e-6)
        scale = c["max_grad_norm"] / norm if c["max_grad_norm"] and norm > c["max_grad_norm"] else 1.0
        lr = c["lr"] * max(0.0, 1.0 - T[k] / c["steps"]) if c["lr_anneal"] else c["lr"]
        d = scale * d_theta         # torch.optim.RMSprop puts eps outside the root: written out
        g = c["rms_alpha"] * g + (1 - c["rms_alpha"]) * d * d
        theta = net.refasync_theta() - lr * d / torch.sqrt(g + c["rms_eps"])
        net.load_refasync(theta.numpy())
        if copy_after_update[k]:
            target.load_refasync(theta.numpy())
        if k == 0:
            first = (d_theta.numpy(), theta.numpy())
        for name, v in zip(out, (y, float(loss.detach()), norm, float(theta.sum()), float((theta ** 2).sum()),
                                 float(g.sum()), float((g ** 2).sum()))):
            out[name].append(v)
    return (torch.cat(out["targets"]).numpy(), *(np.array(out[n]) for n in list(out)[1:]), *first)


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    theta, g = t(theta).clone(), t(g).clone()
    for d in d_thetas:
        d = t(d)
        g = alpha * g + (1 - alpha) * d * d
        theta = theta - lr * d / torch.sqrt(g + eps)    # eps inside the root, as the paper
    return theta.numpy(), g.numpy()


def conv2d_forward_backward(x, w, b, stride, dy):
    # refasync: x NHWC, w (KH, KW, C_in, C_out);  torch: NCHW, (C_out, C_in, KH, KW)
    x_t = t(x).permute(0, 3, 1, 2).clone().requires_grad_(True)
    w_t = t(w).permute(3, 2, 0, 1).clone().requires_grad_(True)
    b_t = t(b).clone().requires_grad_(True)
    y = F.conv2d(x_t, w_t, b_t, stride=int(stride))
    y.backward(t(dy).permute(0, 3, 1, 2))
    return (y.detach().permute(0, 2, 3, 1).numpy(), x_t.grad.permute(0, 2, 3, 1).numpy(),
            w_t.grad.permute(2, 3, 1, 0).numpy(), b_t.grad.numpy())


def dense_forward_backward(x, w, b, dy):
    x_t, w_t, b_t = (t(a).clone().requires_grad_(True) for a in (x, w, b))
    y = F.linear(x_t, w_t.T, b_t)          # refasync's w is Linear.weight.T
    y.backward(t(dy))
    return y.detach().numpy(), x_t.grad.numpy(), w_t.grad.numpy(), b_t.grad.numpy()


class AtariNet(torch.nn.Module):
    """The paper's network, written the usual PyTorch way (NCHW)."""

    def __init__(self, n_outputs):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(4, 16, 8, stride=4)
        self.conv2 = torch.nn.Conv2d(16, 32, 4, stride=2)
        self.fc1 = torch.nn.Linear(32 * 9 * 9, 256)
        self.out = torch.nn.Linear(256, n_outputs)

    def forward(self, obs):
        x = torch.relu(self.conv1(obs / 255.0))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.fc1(x.flatten(1)))     # flattens (channel, y, x)
        return self.out(x)

    def load_refasync(self, theta):
        """Copy refasync's flat theta in: conv (KH, KW, C_in, C_out) -> (C_out, C_in, KH, KW);
        fc1's rows are in refasync's (y, x, channel) flatten order -> torch's (channel, y, x)."""
        views, off = {}, 0
        for name, shape in [("conv1.w", (8, 8, 4, 16)), ("conv1.b", (16,)), ("conv2.w", (4, 4, 16, 32)),
                            ("conv2.b", (32,)), ("fc1.w", (2592, 256)), ("fc1.b", (256,)),
                            ("out.w", (256, self.out.out_features)), ("out.b", (self.out.out_features,))]:
            n = int(np.prod(shape))
            views[name] = t(theta[off:off + n]).reshape(shape)
            off += n
        fc1 = views["fc1.w"].reshape(9, 9, 32, 256).permute(2, 0, 1, 3).reshape(2592, 256)
        with torch.no_grad():
            self.conv1.weight.copy_(views["conv1.w"].permute(3, 2, 0, 1))
            self.conv1.bias.copy_(views["conv1.b"])
            self.conv2.weight.copy_(views["conv2.w"].permute(3, 2, 0, 1))
            self.conv2.bias.copy_(views["conv2.b"])
            self.fc1.weight.copy_(fc1.T)
            self.fc1.bias.copy_(views["fc1.b"])
            self.out.weight.copy_(views["out.w"].T)
            self.out.bias.copy_(views["out.b"])

    def refasync_grad(self):
        """The gradients back in refasync's flat layout (the inverse of load_refasync)."""
        fc1 = self.fc1.weight.grad.T.reshape(32, 9, 9, 256).permute(1, 2, 0, 3).reshape(-1)
        parts = [self.conv1.weight.grad.permute(2, 3, 1, 0), self.conv1.bias.grad,
                 self.conv2.weight.grad.permute(2, 3, 1, 0), self.conv2.bias.grad,
                 fc1, self.fc1.bias.grad, self.out.weight.grad.T, self.out.bias.grad]
        return torch.cat([p.reshape(-1) for p in parts])


def atari_forward_backward(theta, obs, d_out, n_actions, head):
    net = AtariNet(n_actions + (head == "actor_critic"))
    net.load_refasync(theta)
    out = net(t(obs).double())
    out.backward(t(d_out).double())
    return out.detach().numpy(), net.refasync_grad().numpy()
