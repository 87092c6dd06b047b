"""Same-machine PyTorch reference figures for qat-bench (optional; needs `pip install torch`).

Measures, with the same model, batch and thread count as qat-bench:
  train-step  median ms per ResNet-20 float training step (forward + backward + SGD update)
  qat-step    median ms per eager-mode QAT step (default x86 qconfig, Conv+BN+ReLU fused)
Usage: python benchmarks/pytorch_reference.py [--threads 2] [--batch 128] [--steps 20]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else None
        self.add = torch.ao.nn.quantized.FloatFunctional()

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x
        if self.pad is not None:
            s = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return self.relu2(self.add.add(y, s))


class ResNet20(nn.Module):
    def __init__(self, quant=False):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub() if quant else nn.Identity()
        self.dequant = torch.ao.quantization.DeQuantStub() if quant else nn.Identity()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        layers, c = [], 16
        for stage, w in enumerate([16, 32, 64]):
            for i in range(3):
                layers.append(Block(c, w, 2 if (i == 0 and stage > 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = self.quant(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.dequant(self.linear(x))


def time_steps(model, x, y, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    model = ResNet20().train()
    float_ms = time_steps(model, x, y, a.steps)
    print(json.dumps({"name": "pytorch-train-step", "ms": round(float_ms, 1), "torch": torch.__version__,
                      "threads": a.threads, "batch": a.batch}))
    q = ResNet20(quant=True).train()
    fuse = [["conv1", "bn1", "relu"]]
    for i in range(9):
        fuse += [[f"layers.{i}.conv1", f"layers.{i}.bn1", f"layers.{i}.relu1"], [f"layers.{i}.conv2", f"layers.{i}.bn2"]]
    q = torch.ao.quantization.fuse_modules_qat(q, fuse)
    q.qconfig = torch.ao.quantization.get_default_qat_qconfig("x86")
    torch.ao.quantization.prepare_qat(q, inplace=True)
    qat_ms = time_steps(q, x, y, a.steps)
    print(json.dumps({"name": "pytorch-qat-step", "ms": round(qat_ms, 1), "float_ms": round(float_ms, 1),
                      "ratio": round(qat_ms / float_ms, 3), "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
