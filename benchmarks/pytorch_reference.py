"""Same-machine PyTorch reference figures for qat-bench (optional; needs `pip install torch`).

Measures, with the same model, batch and thread count as qat-bench:
  train-step  median ms per float training step (forward + backward + SGD update)
  qat-step    median ms per eager-mode QAT step (default x86 qconfig, Conv+BN(+ReLU) fused)
for ResNet-20 or (--arch mobilenetv2) the MobileNet-v2-style CIFAR network of
Sources/Layers/Zoo/CIFARMobileNetV2.swift.
Usage: python benchmarks/pytorch_reference.py [--arch resnet20|mobilenetv2] [--threads 2] [--batch 128] [--steps 20]
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


def conv_bn(cin, cout, k, stride, groups, relu6):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*(layers + ([nn.ReLU6()] if relu6 else [])))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, t, stride):
        super().__init__()
        hidden = cin * t
        self.expand = conv_bn(cin, hidden, 1, 1, 1, True) if t != 1 else None
        self.dw = conv_bn(hidden, hidden, 3, stride, hidden, True)
        self.project = conv_bn(hidden, cout, 1, 1, 1, False)
        self.residual = stride == 1 and cin == cout
        self.add = torch.ao.nn.quantized.FloatFunctional()

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.dw(y))
        return self.add.add(y, x) if self.residual else y


class MobileNetV2(nn.Module):
    """The same stages as CIFARMobileNetV2.swift: (t, c, n, s)."""
    STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2), (6, 96, 1, 1)]

    def __init__(self, quant=False):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub() if quant else nn.Identity()
        self.dequant = torch.ao.quantization.DeQuantStub() if quant else nn.Identity()
        blocks, c = [conv_bn(3, 32, 3, 1, 1, True)], 32
        for t, cout, n, s in self.STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(c, cout, t, s if i == 0 else 1))
                c = cout
        blocks.append(conv_bn(c, 256, 1, 1, 1, True))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(256, 10)

    def forward(self, x):
        x = self.features(self.quant(x))
        return self.dequant(self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1)))

    def fusions(self):
        """Conv+BN pairs (ReLU6 is not fusable in eager mode)."""
        out = []
        for name, m in self.named_modules():
            if isinstance(m, nn.Sequential) and len(m) >= 2 and isinstance(m[0], nn.Conv2d) and isinstance(m[1], nn.BatchNorm2d):
                out.append([f"{name}.0", f"{name}.1"])
        return out


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
    ap.add_argument("--arch", choices=["resnet20", "mobilenetv2"], default="resnet20")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    net = MobileNetV2 if a.arch == "mobilenetv2" else ResNet20
    model = net().train()
    float_ms = time_steps(model, x, y, a.steps)
    print(json.dumps({"name": "pytorch-train-step", "arch": a.arch, "ms": round(float_ms, 1), "torch": torch.__version__,
                      "threads": a.threads, "batch": a.batch}))
    q = net(quant=True).train()
    if a.arch == "mobilenetv2":
        fuse = q.fusions()
    else:
        fuse = [["conv1", "bn1", "relu"]]
        for i in range(9):
            fuse += [[f"layers.{i}.conv1", f"layers.{i}.bn1", f"layers.{i}.relu1"], [f"layers.{i}.conv2", f"layers.{i}.bn2"]]
    q = torch.ao.quantization.fuse_modules_qat(q, fuse)
    q.qconfig = torch.ao.quantization.get_default_qat_qconfig("x86")
    torch.ao.quantization.prepare_qat(q, inplace=True)
    qat_ms = time_steps(q, x, y, a.steps)
    print(json.dumps({"name": "pytorch-qat-step", "arch": a.arch, "ms": round(qat_ms, 1), "float_ms": round(float_ms, 1),
                      "ratio": round(qat_ms / float_ms, 3), "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
