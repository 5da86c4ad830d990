"""Small building blocks shared by the paper architectures.

Every architecture is written as plain ``nn.Sequential`` stacks of these blocks, so that a layer list can
be printed and checked against the paper's tables. Convolutions are 4x4 (Appendix C) with padding 1, so a
stride-2 layer halves (conv) or doubles (transposed conv) the spatial size.
"""

from __future__ import annotations

import torch
from torch import nn


def conv(cin: int, cout: int, *, stride: int = 2, bn: bool, slope: float, sn: bool = False) -> nn.Sequential:
    """4x4 conv [-> BN] -> leaky ReLU (D's trunk). No conv bias in front of BN (BN's beta replaces it)."""
    # stride 1 keeps the size: PyTorch pads a 4x4 kernel asymmetrically under padding="same"
    layer = nn.Conv2d(cin, cout, 4, stride=stride, padding=1 if stride == 2 else "same", bias=not bn)
    return _stack(spectral(layer, sn), nn.BatchNorm2d(cout) if bn else None, nn.LeakyReLU(slope))


def fc(cin: int, cout: int, *, bn: bool, act: str, slope: float = 0.0, sn: bool = False) -> nn.Sequential:
    """Linear [-> BN] -> ReLU / leaky ReLU."""
    layer = spectral(nn.Linear(cin, cout, bias=not bn), sn)
    return _stack(layer, nn.BatchNorm1d(cout) if bn else None, _act(act, slope))


def upconv(cin: int, cout: int, *, stride: int = 2, bn: bool, act: str) -> nn.Sequential:
    """4x4 transposed conv (x2 when stride 2, same size when stride 1) [-> BN] -> activation (G)."""
    if stride == 2:
        layer = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=not bn)
    else:
        # a 4x4 transposed conv cannot keep the size; 3x3 with padding 1 does (Appendix C omits strides)
        layer = nn.ConvTranspose2d(cin, cout, 3, stride=1, padding=1, bias=not bn)
    return _stack(layer, nn.BatchNorm2d(cout) if bn else None, _act(act))


class AddCoords(nn.Module):
    """(B, C, H, W) -> (B, C + 2, H, W): appends each pixel's column and row, both spread over [-1, 1]
    (CoordConv, Liu et al., NeurIPS 2018), so that the next layer can draw by absolute position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        cols = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)  # (1, 1, 1, W)
        rows = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)  # (1, 1, H, 1)
        return torch.cat([x, cols.expand(b, 1, h, w), rows.expand(b, 1, h, w)], dim=1)


class Broadcast(nn.Module):
    """(B, F) -> (B, F + 2, S, S): the vector copied to every position of an S x S grid, followed by the column
    and row channels of :class:`AddCoords` (the spatial broadcast decoder of Watters et al., 2019)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.coords = AddCoords()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f = x.shape
        return self.coords(x[:, :, None, None].expand(b, f, self.size, self.size))

    def extra_repr(self) -> str:
        return f"size={self.size}"


class MinibatchStd(nn.Module):
    """(B, F) -> (B, F + 1): appends, to each sample, the mean over features of the standard deviation of each
    feature within its group of ``group`` samples (the minibatch standard deviation of Karras et al., ICLR
    2018, on feature vectors). A batch whose samples look alike gets a small value, so D can see a generator
    that draws the same image for every z. B must be a multiple of ``group``, else the whole batch is one group."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f = x.shape
        g = self.group if b % self.group == 0 else b
        std = x.float().reshape(g, b // g, f).var(dim=0, unbiased=False).add(1e-8).sqrt()  # (B/g, F)
        stat = std.mean(dim=1).repeat(g).to(x.dtype)  # (B,): sample i belongs to group i mod B/g
        return torch.cat([x, stat[:, None]], dim=1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class MaxOverPositions(nn.Module):
    """A D trunk that also asks "is this pattern anywhere?": (B, C, H, W) -> (B, F + sum of the tapped channels).

    Runs ``blocks`` (conv blocks) in order, then ``head`` ((B, C'*H'*W') -> (B, F)) on the last block's output
    flattened, and appends to the head's features the maximum over positions of every channel of the last
    ``taps`` blocks. A strided trunk that ends in a flatten and a fully connected layer must learn a pattern anew
    at each of its output cells; the maximum over positions answers the same for a pattern wherever it is.
    """

    def __init__(self, blocks: nn.Sequential, head: nn.Module, taps: int = 2) -> None:
        super().__init__()
        if not 1 <= taps <= len(blocks):
            raise ValueError(f"taps must be between 1 and the {len(blocks)} blocks, got {taps}")
        self.blocks, self.head, self.taps = blocks, head, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maxima = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # (B, C_i, H_i, W_i)
            if i >= len(self.blocks) - self.taps:
                maxima.append(x.amax(dim=(2, 3)))  # (B, C_i)
        return torch.cat([self.head(x.flatten(1)), *maxima], dim=1)  # (B, F + sum C_i)

    def extra_repr(self) -> str:
        return f"taps={self.taps}"


class Reshape(nn.Module):
    """(B, C*H*W) -> (B, C, H, W)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def spectral(layer: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) when enabled."""
    return nn.utils.parametrizations.spectral_norm(layer) if enabled else layer


def output_activation(name: str) -> nn.Module:
    """G's last nonlinearity: sigmoid for [0, 1] data, tanh for [-1, 1] data."""
    return {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[name]


def init_weights(module: nn.Module) -> None:
    """Official-code init: weights N(0, 0.02), BN gamma N(1, 0.02), biases and BN beta 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(m, "parametrizations", None)
            target = m.parametrizations.weight.original if weight is not None else m.weight
            nn.init.normal_(target, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _act(name: str, slope: float = 0.0) -> nn.Module | None:
    if name == "relu":
        return nn.ReLU()
    if name == "lrelu":
        return nn.LeakyReLU(slope)
    if name == "none":
        return None
    return output_activation(name)


def _stack(*mods: nn.Module | None) -> nn.Sequential:
    return nn.Sequential(*[m for m in mods if m is not None])
