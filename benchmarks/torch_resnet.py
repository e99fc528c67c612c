"""The PyTorch contender: torchvision's ResNet (BasicBlock, Bottleneck with the stride on the 3x3
convolution, kaiming_normal fan_out init) written out here because torchvision has no CPU build
on this project's machines, with the CIFAR stem (3x3 stride 1, no max-pool) and the input
normalization inside the model, as tfreg's networks have it. Same trainable-parameter count as
tfreg's (the benchmark checks it).
"""

import torch
from torch import nn

ARCHS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet50": ("bottleneck", (3, 4, 6, 3))}


def conv_bn(c_in, c_out, kernel, stride):
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in, width, stride):
        super().__init__()
        self.branch = nn.Sequential(*conv_bn(c_in, width, 3, stride), nn.ReLU(inplace=True),
                                    *conv_bn(width, width, 3, 1))
        self.shortcut = (nn.Sequential(*conv_bn(c_in, width, 1, stride))
                         if stride != 1 or c_in != width else nn.Identity())

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in, width, stride):
        super().__init__()
        out = 4 * width
        self.branch = nn.Sequential(*conv_bn(c_in, width, 1, 1), nn.ReLU(inplace=True),
                                    *conv_bn(width, width, 3, stride), nn.ReLU(inplace=True),
                                    *conv_bn(width, out, 1, 1))
        self.shortcut = (nn.Sequential(*conv_bn(c_in, out, 1, stride))
                         if stride != 1 or c_in != out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, name, classes=10, width_multiplier=1.0, mean=(0.0,) * 3, std=(1.0,) * 3):
        super().__init__()
        kind, depths = ARCHS[name]
        block = BasicBlock if kind == "basic" else Bottleneck
        widths = [max(1, int(round(w * width_multiplier))) for w in (64, 128, 256, 512)]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.stem = nn.Sequential(*conv_bn(3, widths[0], 3, 1), nn.ReLU(inplace=True))
        blocks, c_in = [], widths[0]
        for stage, (depth, width) in enumerate(zip(depths, widths)):
            for b in range(depth):
                blocks.append(block(c_in, width, 2 if (b == 0 and stage > 0) else 1))
                c_in = width * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.blocks(self.stem((x - self.mean) / self.std))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def multiply_adds(model, image_shape=(3, 32, 32)):
    """Multiply-adds of one image's forward pass through every Conv2d and Linear module."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total[0] += output.numel() * kh * kw * module.in_channels // module.groups
        else:
            total[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *image_shape, device=next(model.parameters()).device))
    model.train(was_training)
    for h in handles:
        h.remove()
    return int(total[0])


def count_params(model):
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
