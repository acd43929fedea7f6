#!/usr/bin/env python3
"""bench_nn_torch.py — the slice CNN of configs/models/slice_cnn.yaml in PyTorch (same layers:
3x3 same convs 32,32,pool,64,64,pool,128,128,pool, dense 256, 128, 3; ReLU; dropout 0.5 on the
dense layers), batch 32, Adam; prints training and inference slices/s with torch's CPU threads
set to argv[1] (default 2). Used by tests/bench/bench_nn.sh for a same-machine ratio."""
import sys
import time

import torch
import torch.nn as nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
nbatch = int(sys.argv[2]) if len(sys.argv) > 2 else 2
ninf = int(sys.argv[3]) if len(sys.argv) > 3 else 96
torch.set_num_threads(threads)
torch.manual_seed(0)


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2)]


net = nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128), nn.Flatten(),
                    nn.Linear(128 * 25 * 25, 256), nn.ReLU(), nn.Dropout(0.5),
                    nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 3))
opt = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-7)
B = 32
x = torch.rand(B, 1, 200, 200)
y = torch.randint(0, 3, (B,))
net.train()
opt.zero_grad()
nn.functional.cross_entropy(net(x), y).backward()  # warm-up
opt.step()
t = time.perf_counter()
for _ in range(nbatch):
    opt.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
tt = time.perf_counter() - t
net.eval()
with torch.no_grad():
    net(x[:8])
    t = time.perf_counter()
    done = 0
    while done < ninf:
        b = min(B, ninf - done)
        torch.softmax(net(x[:b]), 1)
        done += b
    ti = time.perf_counter() - t
print(f"torch {torch.__version__} ({threads} threads) train: {nbatch * B} slices in {tt:.2f} s = "
      f"{nbatch * B / tt:.2f} slices/s")
print(f"torch infer: {ninf} slices in {ti:.2f} s = {ninf / ti:.2f} slices/s")
