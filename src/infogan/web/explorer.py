"""The explorer's inference side, apart from HTTP: validate request parameters, render PNGs through
:func:`infogan.inference.generate.generate` and :mod:`infogan.inference.viz`, and read Q's posterior of an uploaded image through
:func:`infogan.inference.generate.encode`. Every bad parameter raises :class:`RequestError` with an HTTP status."""

from __future__ import annotations

import base64
import io
import math
import re
import threading
from pathlib import Path

import numpy as np
import torch

from infogan.data.imagefolder import MAX_IMAGE_PIXELS
from infogan.errors import InfoGANError
from infogan.latent.spec import Categorical
from infogan.latent.syntax import format_latent
from infogan.models import InfoGAN
from infogan.storage import read_jsonl

MAX_SEED = 2**31 - 1  # the page draws seeds with Math.random() * 2^31
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_PIXELS = MAX_IMAGE_PIXELS  # refuses decompression bombs before Pillow allocates the image
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_STEPS = 24
DEFAULT_STEPS = 9  # traversal columns of a continuous code: -2, -1.5, ..., 2 for span 2
_INT = re.compile(r"^\d{1,10}$")


class RequestError(InfoGANError):
    """A request the explorer refuses; ``status`` is the HTTP status (4xx) to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Explorer:
    """Inference for the latent explorer, safe to call from several server threads.

    Args:
        model: the networks (eval mode, any device).
        span: continuous codes may take values in [-span, span] (the sliders' range).
        run_dir: the run folder, when there is one: its ``code_acc`` result names each category by the class it
            was matched to ("looks like 6"), and its ``info`` result gives what Q recovers of each code.
    """

    def __init__(self, model: InfoGAN, *, span: float = 2.0, run_dir: Path | None = None) -> None:
        self.model = model.eval()
        self.spec = model.spec
        self.names = self.spec.code_names()
        self.span = float(span)
        self.labels, self.recovered = run_results(run_dir, getattr(model, "step", None)) if run_dir else ({}, {})
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core for one

    # ----- description ---------------------------------------------------------------------------------
    def describe(self) -> dict:
        """The model's latent layout for the page: one entry per code, with ranges and defaults."""
        codes = []
        for name, code in zip(self.names, self.spec.codes):
            if isinstance(code, Categorical):
                labels = self.labels.get(name)
                codes.append({"name": name, "kind": "categorical", "k": code.k, "default": 0,
                              "labels": [f"looks like {c}" if c >= 0 else "unmatched" for c in labels] if labels else None,
                              "order": self.category_order(name), "recovered": self.recovered.get(name)})
            else:
                marked = [-1.0, 1.0]  # U(-1, 1): the training range; N(0, 1): one standard deviation
                label = "training range U(-1, 1)" if code.prior == "uniform" else "prior N(0, 1): ±1σ"
                codes.append({"name": name, "kind": "continuous", "prior": code.prior, "min": -self.span,
                              "max": self.span, "marked": marked, "marked_label": label, "default": 0.0,
                              "recovered": self.recovered.get(name)})
        run = getattr(self.model, "run_config", None)
        return {"codes": codes, "noise_dim": self.spec.noise.dim, "image_shape": list(self.model.config.image_shape),
                "latent": format_latent(self.spec), "preset": run.preset if run else None,
                "step": getattr(self.model, "step", None), "max_seed": MAX_SEED, "steps": DEFAULT_STEPS,
                "max_upload_bytes": MAX_UPLOAD_BYTES, "upload_formats": list(UPLOAD_FORMATS)}

    # ----- parameters ----------------------------------------------------------------------------------
    def parse_query(self, query: dict[str, list[str]], *, extra: tuple[str, ...] = ()) -> tuple[int, list, dict]:
        """Validate ``seed`` and one value per code (missing codes take their default).

        Args:
            query: ``urllib.parse.parse_qs`` output.
            extra: further parameter names the endpoint accepts (returned raw in the third value).
        Returns:
            (seed, values in code order, extra parameters as strings).
        Raises:
            RequestError: 400 for an unknown, repeated, malformed or out-of-range parameter.
        """
        allowed = {"seed", *self.names, *extra}
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise RequestError(400, f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        repeated = sorted(k for k, v in query.items() if len(v) != 1)
        if repeated:
            raise RequestError(400, f"parameter(s) {', '.join(repeated)} given more than once")
        q = {k: v[0] for k, v in query.items()}
        seed = self._integer(q.get("seed", "0"), "seed", 0, MAX_SEED)
        values = []
        for name, code in zip(self.names, self.spec.codes):
            raw = q.get(name)
            if isinstance(code, Categorical):
                values.append(0 if raw is None else self._integer(raw, name, 0, code.k - 1))
            else:
                values.append(0.0 if raw is None else self._number(raw, name))
        return seed, values, {k: q[k] for k in extra if k in q}

    def category_order(self, name: str) -> list[int]:
        """The categories of a code in the order of the classes they were matched to (unmatched last);
        their natural order when the run has no ``code_acc`` result."""
        index = self.names.index(name)
        labels = self.labels.get(name)
        k = self.spec.codes[index].k
        if not labels:
            return list(range(k))
        return sorted(range(k), key=lambda c: (labels[c] < 0, labels[c], c))

    def code_index(self, name: str | None) -> int:
        """Index of a code named in a request (400 when absent or unknown)."""
        if name not in self.names:
            raise RequestError(400, f"parameter code must name one of {', '.join(self.names)}, got {name!r}")
        return self.names.index(name)

    def steps(self, raw: str | None, default: int = DEFAULT_STEPS) -> int:
        """Number of traversal columns for a continuous code (400 outside 2..MAX_STEPS)."""
        return default if raw is None else self._integer(raw, "steps", 2, MAX_STEPS)

    @staticmethod
    def _integer(raw: str, name: str, low: int, high: int) -> int:
        if not _INT.match(raw) or not low <= int(raw) <= high:
            raise RequestError(400, f"parameter {name} must be an integer in {low}..{high}, got {raw!r}")
        return int(raw)

    def _number(self, raw: str, name: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > self.span:
            raise RequestError(400, f"parameter {name} must be a number in [{-self.span:g}, {self.span:g}], "
                                    f"got {raw!r}")
        return value

    # ----- images --------------------------------------------------------------------------------------
    def image_png(self, seed: int, values: list) -> bytes:
        """G(z, c) for the noise of ``seed`` and the code ``values``, as a PNG at the model's resolution."""
        return _png(self._render(seed, [torch.tensor([v]) for v in values])[0])

    def traversal_png(self, seed: int, values: list, index: int, steps: int, *, order: str | None = None) -> bytes:
        """One row: code ``index`` swept over its categories or over [-span, span], the rest held fixed.

        ``order="label"``: a categorical code's categories in :meth:`category_order`, i.e. by what they draw.
        """
        code = self.spec.codes[index]
        if order not in (None, "natural", "label"):
            raise RequestError(400, f"parameter order must be natural or label, got {order!r}")
        if isinstance(code, Categorical):
            sweep = torch.tensor(self.category_order(self.names[index]) if order == "label" else list(range(code.k)))
        else:
            sweep = torch.linspace(-self.span, self.span, steps)
        n = sweep.shape[0]
        codes = [sweep if i == index else torch.full((n,), v) for i, v in enumerate(values)]
        from infogan.inference.viz import grid

        return _png(grid(self._render(seed, codes), 1, n, pad=1))

    def _render(self, seed: int, codes: list[torch.Tensor]) -> np.ndarray:
        from infogan.inference.generate import generate
        from infogan.inference.viz import to_uint8

        n = codes[0].shape[0] if codes else 1
        z = self.spec.sample_noise(1, generator=torch.Generator().manual_seed(seed)).repeat(n, 1)  # (n, noise_dim)
        with self._lock:
            images = generate(self.model, codes, z)  # (n, C, H, W) in G's output range
        return to_uint8(images, self.model.config.output)  # (n, H, W, C)

    # ----- encoding ------------------------------------------------------------------------------------
    def posterior(self, data: bytes) -> dict:
        """Q's posterior for one uploaded image file (any size; converted and resized as ``infogan encode``).

        Returns:
            ``codes``: per code ``{name, kind, probs, category}`` or ``{name, kind, mean, std}``; ``input``: the
            image Q saw, as a PNG data URL.
        Raises:
            RequestError: 413 too large, 415 not a supported image format, 400 corrupt.
        """
        from PIL import Image

        from infogan.data.imagefolder import decode_image
        from infogan.inference.generate import encode

        if not data:
            raise RequestError(400, "empty upload: send the bytes of one image file as the request body")
        if len(data) > MAX_UPLOAD_BYTES:
            raise RequestError(413, f"upload of {len(data)} bytes exceeds the limit of {MAX_UPLOAD_BYTES} bytes")
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise RequestError(415, f"not an image file Pillow can read; send one of {', '.join(UPLOAD_FORMATS)}") from None
        if fmt not in UPLOAD_FORMATS:
            raise RequestError(415, f"image format {fmt} is not accepted; send one of {', '.join(UPLOAD_FORMATS)}")
        if width * height > MAX_UPLOAD_PIXELS:
            raise RequestError(413, f"image of {width}x{height} pixels exceeds {MAX_UPLOAD_PIXELS} pixels")
        c, h, _ = self.model.config.image_shape
        pixels = decode_image(io.BytesIO(data), size=h, channels=c, crop=None)  # Pillow reads a path or a stream
        if pixels is None:
            raise RequestError(400, f"the {fmt} image is truncated or corrupt and could not be decoded")
        images = torch.from_numpy(pixels.transpose(2, 0, 1).copy()).unsqueeze(0)  # (1, C, H, W) uint8
        with self._lock:
            post = encode(self.model, images)
        probs, means, stds = iter(post["probs"]), iter(post["means"]), iter(post["stds"])
        codes = []
        for name, code in zip(self.names, self.spec.codes):
            if isinstance(code, Categorical):
                p = next(probs)[0]
                codes.append({"name": name, "kind": "categorical", "probs": [round(float(x), 6) for x in p],
                              "category": int(p.argmax())})
            else:
                codes.append({"name": name, "kind": "continuous", "mean": round(float(next(means)[0]), 6),
                              "std": round(float(next(stds)[0]), 6)})
        preview = base64.b64encode(_png(pixels)).decode("ascii")
        return {"codes": codes, "input": f"data:image/png;base64,{preview}", "format": fmt,
                "size": [width, height]}


def run_results(run_dir: Path, step: int | None) -> tuple[dict[str, list[int]], dict[str, float]]:
    """From a run folder's metric files: per categorical code the class each category was matched to (-1 when
    none), and per code what Q recovers of it; the results of the snapshot's step are preferred, else the
    newest. Unreadable or missing files give empty results (the page then shows plain numbers)."""
    labels: dict[str, list[int]] = {}
    recovered: dict[str, float] = {}
    for pattern, take in (("metric-code_acc_*.jsonl", "mapping"), ("metric-info_bound_*.jsonl", "recovered")):
        records = []
        for path in sorted(Path(run_dir).glob(pattern)):
            try:
                records += [r for r in read_jsonl(path) if isinstance(r, dict) and take in r]
            except (OSError, ValueError, InfoGANError):
                continue
        if not records:
            continue
        best = max(records, key=lambda r: (r.get("step") == step, str(r.get("time", ""))))
        if take == "mapping" and isinstance(best.get("mapping"), dict) and isinstance(best.get("code"), str):
            mapping = best["mapping"]
            labels[best["code"]] = [int(mapping.get(str(c), mapping.get(c, -1))) for c in range(len(mapping))]
        elif take == "recovered" and isinstance(best.get("recovered"), dict):
            recovered = {k: float(v) for k, v in best["recovered"].items() if isinstance(v, (int, float))}
    return labels, recovered


def _png(image: np.ndarray) -> bytes:
    """(H, W, C) uint8 -> PNG bytes (greyscale when C == 1)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()  # compress_level 1: tiny images, so speed matters more than bytes
