"""Export a trained generator (and optionally Q) for deployment as ONNX or TorchScript, and check it.

The exported networks have plain tensor interfaces, described in ``export.json`` beside them:

- ``generator``: inputs ``z`` float32 (B, noise_dim) and ``c`` float32 (B, n_codes), one column per code in
  spec order (a category index 0..K-1 for a categorical code, the value for a continuous one); output
  ``images`` float32 (B, C, H, W) in G's output range ([0, 1] for sigmoid models, [-1, 1] for tanh ones).
- ``q`` (with ``include_q``): input ``images`` float32 (B, C, H, W) in [0, 1]; outputs per code in spec order:
  ``cK_probs`` (B, K) for a categorical code, ``cK_mean`` and ``cK_std`` (B,) for a continuous one; the same
  numbers as :func:`infogan.inference.generate.encode`.

Every export is loaded back (onnxruntime for ONNX, ``torch.jit.load`` for TorchScript) and run on a fixed
batch; the largest absolute difference from the PyTorch model must stay within ``tolerance``.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from infogan.errors import CheckpointError, ConfigError
from infogan.latent.spec import Categorical
from infogan.latent.syntax import format_latent
from infogan.models import InfoGAN
from infogan.storage import atomic_path, atomic_write_text

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
DEFAULT_TOLERANCE = 1e-4  # fp32 on the CPU: observed differences are ~1e-7 for G and ~1e-6 for Q
CHECK_BATCH = 16


class ExportedGenerator(nn.Module):
    """G behind a (z, c) interface: categorical columns of ``c`` are one-hot encoded inside the graph."""

    def __init__(self, model: InfoGAN) -> None:
        super().__init__()
        self.G = model.G
        self.sizes = [code.k if isinstance(code, Categorical) else 0 for code in model.spec.codes]

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        parts = [z]  # (B, noise_dim)
        for i, k in enumerate(self.sizes):
            column = c[:, i:i + 1]  # (B, 1)
            if k:  # a comparison with 0..K-1 builds the one-hot row and exports to every backend
                parts.append((column == torch.arange(k, dtype=c.dtype, device=c.device)).to(z.dtype))  # (B, K)
            else:
                parts.append(column.to(z.dtype))
        return self.G(torch.cat(parts, dim=1))  # (B, C, H, W)


class ExportedQ(nn.Module):
    """D's trunk and Q's head from [0, 1] images to the readable posterior, one output per statistic."""

    def __init__(self, model: InfoGAN) -> None:
        super().__init__()
        self.trunk, self.q_head = model.D.trunk, model.D.q_head
        self.spec = model.spec
        self.tanh = model.config.output == "tanh"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = images * 2.0 - 1.0 if self.tanh else images  # the model range D was trained on
        posterior = self.spec.posterior(self.q_head(self.trunk(x)))
        return tuple(_per_code(self.spec, posterior))


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and how closely each export reproduced PyTorch.

    Attributes:
        files: network name -> path written.
        max_abs_diff: network name -> largest absolute difference on the check batch.
        manifest: path of ``export.json``.
    """

    files: dict[str, Path]
    max_abs_diff: dict[str, float]
    manifest: Path
    tolerance: float = DEFAULT_TOLERANCE
    notes: list[str] = field(default_factory=list)


def export_model(model: InfoGAN, outdir: str | os.PathLike, *, fmt: str = "onnx", include_q: bool = False,
                 tolerance: float = DEFAULT_TOLERANCE, seed: int = 0, root: str | os.PathLike | None = None,
                 ) -> ExportResult:
    """Write the generator (and Q) in ``fmt`` under ``outdir`` and check them against PyTorch.

    Args:
        model: the networks (moved to the CPU and eval mode here).
        outdir: output folder (created); files are ``generator.<ext>``, ``q.<ext>`` and ``export.json``.
        fmt: "onnx" (needs the ``[export]`` extra) or "torchscript".
        include_q: also export Q (images -> posterior).
        tolerance: largest absolute difference accepted between the export and PyTorch.
        seed: seed of the check batch.
        root: the run folder ``outdir`` lies in (the default ``RUN/export``): no write goes through its links.
    Returns:
        An :class:`ExportResult`.
    Raises:
        ConfigError: unknown format, missing ONNX packages, or a latent layout the interface cannot express.
        CheckpointError: the export does not reproduce the PyTorch output within ``tolerance``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise ConfigError(f"--tolerance must be a number >= 0, got {tolerance!r}")
    spec = model.spec
    if spec.noise.dim == 0 or not spec.codes:
        raise ConfigError(f"export needs a model with noise and at least one code; this one is {format_latent(spec)}")
    if fmt == "onnx":
        _require_onnx()
    model = model.cpu().eval()
    outdir = Path(outdir)
    gen = torch.Generator().manual_seed(seed)
    latent = spec.sample(CHECK_BATCH, generator=gen)
    c = torch.stack([code.float() for code in latent.codes], dim=1)  # (B, n_codes)
    from infogan.inference.generate import encode, generate

    reference_images = generate(model, list(latent.codes), latent.z)  # (B, C, H, W), G's output range
    files, diffs = {}, {}
    g_net = ExportedGenerator(model).eval()
    files["generator"] = outdir / f"generator{SUFFIX[fmt]}"
    _write(fmt, g_net, (latent.z, c), files["generator"], ["z", "c"], ["images"], root)
    diffs["generator"] = _max_diff(_run(fmt, files["generator"], {"z": latent.z, "c": c}), [reference_images])
    if include_q:
        unit = reference_images if model.config.output == "sigmoid" else (reference_images + 1.0) / 2.0
        unit = unit.clamp(0, 1)  # (B, C, H, W) in [0, 1]
        q_net = ExportedQ(model).eval()
        names = _q_output_names(spec)
        files["q"] = outdir / f"q{SUFFIX[fmt]}"
        _write(fmt, q_net, (unit,), files["q"], ["images"], names, root)
        expected = _per_code(spec, encode(model, unit))
        diffs["q"] = _max_diff(_run(fmt, files["q"], {"images": unit}), expected)
    manifest = outdir / "export.json"
    atomic_write_text(manifest, json.dumps(_manifest(model, fmt, files, diffs, tolerance), indent=2) + "\n", root=root)
    bad = {name: d for name, d in diffs.items() if not d <= tolerance}
    if bad:
        raise CheckpointError(f"the exported {', '.join(bad)} differ from PyTorch by up to "
                              f"{max(bad.values()):.3g} (> tolerance {tolerance:g}); try --format "
                              f"{'torchscript' if fmt == 'onnx' else 'onnx'} or a larger --tolerance")
    return ExportResult(files, diffs, manifest, tolerance)


def _per_code(spec, posterior: dict[str, list[torch.Tensor]]) -> list[torch.Tensor]:
    """Interleave ``posterior`` into spec order: probs for categorical codes, mean then std for continuous."""
    probs, means, stds = iter(posterior["probs"]), iter(posterior["means"]), iter(posterior["stds"])
    out = []
    for code in spec.codes:
        out += [next(probs)] if isinstance(code, Categorical) else [next(means), next(stds)]
    return out


def _q_output_names(spec) -> list[str]:
    names = []
    for name, code in zip(spec.code_names(), spec.codes):
        names += [f"{name}_probs"] if isinstance(code, Categorical) else [f"{name}_mean", f"{name}_std"]
    return names


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs the optional packages onnx, onnxscript and onnxruntime ({exc}); "
                          "install them with: pip install 'infogan[export]', or use --format torchscript") from None


def _write(fmt: str, net: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
           outputs: list[str], root: str | os.PathLike | None = None) -> None:
    with atomic_path(path, root=root) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # upstream deprecation and tracer notices; the check below is what counts
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(net, args), str(tmp))
            return
        batch = torch.export.Dim("batch", min=1, max=65536)
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)  # hides "torchvision is not installed" notices irrelevant to these nets
        try:
            torch.onnx.export(net, args, str(tmp), input_names=inputs, output_names=outputs, dynamo=True,
                              external_data=False, dynamic_shapes=tuple({0: batch} for _ in args), verbose=False)
        finally:
            logger.setLevel(level)


def _run(fmt: str, path: Path, feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Load an export back from disk and run it on ``feeds`` (a batch other than the traced one's size)."""
    feeds = {k: v[: CHECK_BATCH - 3] for k, v in feeds.items()}  # a new batch size exercises the dynamic axis
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream, still supported
            out = torch.jit.load(str(path))(*feeds.values())
        return [o.detach() for o in (out if isinstance(out, tuple) else (out,))]
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(o) for o in session.run(None, {k: v.numpy() for k, v in feeds.items()})]


def _max_diff(got: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    if len(got) != len(expected):
        raise CheckpointError(f"the export returned {len(got)} outputs instead of {len(expected)}")
    n = got[0].shape[0]
    return max(float((g.float() - e[:n].float()).abs().max()) for g, e in zip(got, expected))


def _manifest(model: InfoGAN, fmt: str, files: dict[str, Path], diffs: dict[str, float], tolerance: float) -> dict:
    spec = model.spec
    codes = [{"name": name, "kind": code.kind, **({"k": code.k} if isinstance(code, Categorical)
                                                   else {"prior": code.prior})}
             for name, code in zip(spec.code_names(), spec.codes)]
    run = getattr(model, "run_config", None)
    info = {"format": fmt, "torch": torch.__version__, "step": getattr(model, "step", None),
            "preset": run.preset if run else None, "latent": format_latent(spec), "codes": codes,
            "image_shape": list(model.config.image_shape), "tolerance": tolerance,
            "max_abs_diff": diffs, "files": {k: v.name for k, v in files.items()},
            "generator": {"inputs": {"z": ["B", spec.noise.dim], "c": ["B", len(spec.codes)]},
                          "outputs": {"images": ["B", *model.config.image_shape]},
                          "output_range": [0, 1] if model.config.output == "sigmoid" else [-1, 1],
                          "c_columns": "category index (as a float) for categorical codes, value for continuous"}}
    if "q" in files:
        info["q"] = {"inputs": {"images": ["B", *model.config.image_shape]}, "input_range": [0, 1],
                     "outputs": _q_output_names(spec)}
    return info


# ----- command line -------------------------------------------------------------------------------------
