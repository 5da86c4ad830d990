"""Networks written as layer lists in the papers' notation, for the fidelity tests of tests/models/."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from infogan.models.chairs import TrimLast


SHAPE_ONLY = ("Reshape", "Broadcast", "MinibatchStd")  # modules with no weights that the notation leaves out


def describe(seq: nn.Module) -> list[str]:
    """The blocks of a network in the papers' notation, e.g. ["FC1024 BN ReLU", "conv64 s2 SN lReLU",
    "upconv1 s2 sigmoid"]: modules in their order inside each block, " SN" after a spectrally normalised
    layer, G's output nonlinearity appended to the last layer."""
    out: list[str] = []
    for block in (seq if isinstance(seq, nn.Sequential) else [seq]):
        parts = []
        for m in (block if isinstance(block, nn.Sequential) else [block]):
            sn = " SN" if parametrize.is_parametrized(m, "weight") else ""
            if isinstance(m, nn.Linear):
                parts.append(f"FC{m.out_features}{sn}")
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                name = "upconv" if isinstance(m, nn.ConvTranspose2d) else "conv"
                parts.append(f"{name}{m.out_channels}" + (" s2" if m.stride == (2, 2) else "") + sn)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                parts.append("BN")
            elif isinstance(m, nn.LeakyReLU):
                parts.append("lReLU")
            elif isinstance(m, nn.ReLU):
                parts.append("ReLU")
            elif type(m).__name__ == "AddCoords":
                parts.append("coords")
            elif isinstance(m, (nn.Sigmoid, nn.Tanh)):
                parts.append(type(m).__name__.lower())
            elif not isinstance(m, (nn.Flatten, TrimLast)) and type(m).__name__ not in SHAPE_ONLY:
                raise AssertionError(f"unexpected layer {m}")
        if parts and parts[0] in ("sigmoid", "tanh"):
            out[-1] += " " + parts[0]
        elif parts:
            out.append(" ".join(parts))
    return out


def shapes(seq: nn.Sequential, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Output shape (without the batch) after every block."""
    result = []
    for block in seq:
        x = block(x)
        result.append(tuple(x.shape[1:]))
    return result
