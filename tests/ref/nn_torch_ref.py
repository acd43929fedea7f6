#!/usr/bin/env python3
"""nn_torch_ref.py DIR — PyTorch reference for hust19's nn engine (tests/integration/test_nn_torch_parity.sh).

Reads the raw float32 files written by `test_nn_tool parity DIR` (initial weights in hust19's
parameter layout, a batch, hust19's logits, gradients and weights after 20 Adam steps), runs the
same net in PyTorch — Conv2d(2,4,3,padding=1), ReLU, Conv2d(4,4,3,padding=1) (hust19's Winograd
path), ReLU, MaxPool2d(2), Flatten (NCHW, as hust19),
Linear(64,8), ReLU, Linear(8,3), cross-entropy (mean) — and compares:
  * logits and every gradient: max|hust19 - torch| <= 1e-4 * max|torch| per tensor;
  * weights after 20 Adam steps: max|hust19 - torch| <= 1e-3 * max|torch| per tensor.
The optimiser is Keras 2.2.4's Adam written out in torch (lr_t = lr*sqrt(1-b2^t)/(1-b1^t),
p -= lr_t*m/(sqrt(v)+eps), eps 1e-7) with the paper's per-epoch decay lr/(1+d*i) (one batch per
epoch here), since torch.optim.Adam places eps differently.
Exit 0 on agreement, 1 on disagreement, 77 if torch is missing.
"""
import os
import sys

import numpy as np

try:
    import torch
except Exception as e:  # noqa: BLE001
    print(f"SKIPPED: import torch failed: {e}")
    sys.exit(77)

d = sys.argv[1]
meta = dict(line.split() for line in open(os.path.join(d, "meta.txt")))
rd = lambda n, t=np.float32: np.fromfile(os.path.join(d, n), dtype=t)  # noqa: E731

torch.manual_seed(0)
torch.set_num_threads(1)
B, C, H, W = 4, 2, 8, 8
shapes = [("conv.w", (4, C, 3, 3)), ("conv.b", (4,)), ("conv2.w", (4, 4, 3, 3)), ("conv2.b", (4,)), ("fc1.w", (8, 64)), ("fc1.b", (8,)),
          ("fc2.w", (3, 8)), ("fc2.b", (3,))]
init = rd("init.f32")
assert init.size == int(meta["nparams"]) == sum(int(np.prod(s)) for _, s in shapes), "parameter count"


def split(flat):
    out, o = {}, 0
    for name, s in shapes:
        n = int(np.prod(s))
        out[name] = torch.tensor(flat[o:o + n].reshape(s))
        o += n
    return out


x = torch.tensor(rd("x.f32").reshape(B, C, H, W))
y = torch.tensor(rd("y.i32", np.int32).astype(np.int64))
P = {k: v.clone().requires_grad_(True) for k, v in split(init).items()}


def forward(P):
    h = torch.relu(torch.nn.functional.conv2d(x, P["conv.w"], P["conv.b"], padding=1))
    h = torch.nn.functional.conv2d(h, P["conv2.w"], P["conv2.b"], padding=1)
    h = torch.nn.functional.max_pool2d(torch.relu(h), 2)
    h = torch.relu(torch.nn.functional.linear(h.reshape(B, -1), P["fc1.w"], P["fc1.b"]))
    return torch.nn.functional.linear(h, P["fc2.w"], P["fc2.b"])


ok = True


def compare(what, ours, ref, rtol):
    global ok
    ref = ref.detach().numpy().ravel()
    ours = np.asarray(ours).ravel()
    err = float(np.max(np.abs(ours - ref)))
    scale = float(np.max(np.abs(ref)))
    good = err <= rtol * scale
    ok &= good
    print(f"{what:10s} max|diff| {err:.3e}  max|ref| {scale:.3e}  rel {err / scale:.2e}  "
          f"(tol {rtol:g}) {'ok' if good else 'FAIL'}")


logits = forward(P)
loss = torch.nn.functional.cross_entropy(logits, y)
loss.backward()
compare("logits", rd("logits.f32"), logits, 1e-4)
print(f"loss       hust19 {float(meta['loss']):.7f} torch {loss.item():.7f}")
ok &= abs(float(meta["loss"]) - loss.item()) <= 1e-4 * abs(loss.item())
g = split(rd("grads.f32"))
for name, _ in shapes:
    compare("d " + name, g[name], P[name].grad, 1e-4)

# 20 Keras-Adam steps on the same batch, lr decayed per epoch (equation 10 of the paper).
lr, decay, b1, b2, eps = float(meta["lr"]), float(meta["decay"]), 0.9, 0.999, 1e-7
Q = {k: v.clone().requires_grad_(True) for k, v in split(init).items()}
m = {k: torch.zeros_like(v) for k, v in Q.items()}
v2 = {k: torch.zeros_like(v) for k, v in Q.items()}
for t in range(1, int(meta["steps"]) + 1):
    for p in Q.values():
        p.grad = None
    torch.nn.functional.cross_entropy(forward(Q), y).backward()
    lr_e = lr / (1.0 + decay * (t - 1))
    lr_t = lr_e * np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
    with torch.no_grad():
        for k, p in Q.items():
            m[k] = b1 * m[k] + (1 - b1) * p.grad
            v2[k] = b2 * v2[k] + (1 - b2) * p.grad * p.grad
            p -= lr_t * m[k] / (torch.sqrt(v2[k]) + eps)
f = split(rd("final.f32"))
for name, _ in shapes:
    compare("w " + name, f[name], Q[name], 1e-3)
moved = float(np.max(np.abs(rd("final.f32") - init)))
print(f"largest weight change over 20 steps {moved:.3e}")
ok &= moved > 1e-2  # the comparison is meaningful only if the weights moved
sys.exit(0 if ok else 1)
