"""Residual networks (He et al. 2015), built from torchvision's BasicBlock and Bottleneck.

Two families share one assembly: the ImageNet layouts (depth 18, 34, 50, 101, 152: four
stages, widths w, 2w, 4w, 8w) and the small CIFAR layouts (depth 20, 32, 44, 56, 110 = 6n+2:
three stages of n basic blocks, widths w, 2w, 4w). Skips are identities, with a 1x1
projection where the shape changes. The stem adapts to small inputs: ImageNet's 7x7/2 conv
and 3x3/2 max-pool would leave one pixel of an 8x8 digit, so images under 64 px get a 3x3/1
conv and no pool.
"""

from __future__ import annotations

from torch import nn

from dlx.models.layers import activation, init_weights, norm_layer, require_shape
from dlx.models.schemas import LAYOUTS, ResNetConfig  # torch-free: checked before torch loads

SMALL_STEM_BELOW = 64  # px: smaller images keep their resolution in the stem


def make_stem(cfg: ResNetConfig, c_in: int, size: int) -> nn.Sequential:
    small = cfg.stem == "small" or (cfg.stem == "auto" and size < SMALL_STEM_BELOW)
    if small:
        conv = nn.Conv2d(c_in, cfg.width, 3, 1, 1, bias=False)  # (B, w, H, W)
        return nn.Sequential(conv, make_norm(cfg)(cfg.width), make_activation(cfg))
    conv = nn.Conv2d(c_in, cfg.width, 7, 2, 3, bias=False)  # (B, w, H/2, W/2)
    return nn.Sequential(conv, make_norm(cfg)(cfg.width), make_activation(cfg), nn.MaxPool2d(3, 2, 1))


def make_norm(cfg: ResNetConfig):
    """model.norm as torchvision's blocks take it: a function of the channel count."""
    return lambda channels: norm_layer(cfg.norm, channels, image=True)


def make_activation(cfg: ResNetConfig) -> nn.Module:
    return activation(cfg.activation, cfg.negative_slope)


class ResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig, input_shape: tuple[int, int, int], num_outputs: int):
        super().__init__()
        from torchvision.models.resnet import BasicBlock, Bottleneck  # lazy: digits runs never pay for it

        PlainBasicBlock, PlainBottleneck = plain_blocks()

        paper_block, layout = LAYOUTS[cfg.depth]
        blocks = {"basic": BasicBlock, "bottleneck": Bottleneck} if cfg.skip else \
            {"basic": PlainBasicBlock, "bottleneck": PlainBottleneck}
        block = blocks[paper_block if cfg.block == "auto" else cfg.block]
        self.stem = make_stem(cfg, input_shape[0], min(input_shape[1:]))
        stages, c_in = [], cfg.width
        for i, n in enumerate(layout):
            planes = cfg.width * 2 ** i
            stages.append(make_stage(block, c_in, planes, n, stride=1 if i == 0 else 2, cfg=cfg))
            c_in = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        for module in self.stages.modules():  # torchvision's blocks hard-code ReLU: swap in ours
            if isinstance(module, (BasicBlock, Bottleneck)):  # the plain blocks subclass them
                module.relu = make_activation(cfg)
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1) whatever the input size
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c_in, num_outputs))

    def forward(self, x):
        x = self.stages(self.stem(x))  # (B, C, H', W')
        return self.head(self.pool(x))  # (B, num_outputs)


def make_stage(block, c_in: int, planes: int, n: int, stride: int, cfg: ResNetConfig) -> nn.Sequential:
    """n blocks; the first projects the skip (1x1 conv + norm) when the shape changes (no skip: nothing)."""
    out = planes * block.expansion
    norm = make_norm(cfg)
    down = None
    if (stride != 1 or c_in != out) and cfg.skip:
        down = nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), norm(out))
    blocks = [block(c_in, planes, stride, down, norm_layer=norm)] + \
        [block(out, planes, norm_layer=norm) for _ in range(n - 1)]
    return nn.Sequential(*blocks)


def plain_blocks():
    """torchvision's blocks without the identity added at their end (model.skip=false)."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    class PlainBasic(BasicBlock):
        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)))

    class PlainBottleneck_(Bottleneck):
        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)))

    return PlainBasic, PlainBottleneck_


def zero_last_norms(model: nn.Module) -> None:
    """Zero the last BN of each residual branch (Goyal et al. 2017), as torchvision offers."""
    for module in model.modules():
        last = getattr(module, "bn3", None) or getattr(module, "bn2", None)
        if last is not None and hasattr(module, "downsample") and getattr(last, "weight", None) is not None:
            nn.init.zeros_(last.weight)


def build_resnet(cfg: ResNetConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    require_shape("resnet", input_shape, 3, "image (C, H, W)")
    model = ResNet(cfg, input_shape, num_outputs)
    init_weights(model, cfg.init, cfg.init_std, cfg.activation)
    if cfg.zero_init_residual and cfg.skip:  # without a skip, a zeroed branch would output nothing
        zero_last_norms(model)
    return model
