"""Non-finite values and stop signals: where they are detected, and the error that names the step.

A non-finite loss or gradient is checked after every step where that costs nothing (CPU, one process),
otherwise on ticks; weights are checked before every save, so that a saved state is always a good one to
return to. What happens next is ``nan_policy``'s (the loop: stop, or roll back at most
:data:`MAX_ROLLBACKS` times with halved learning rates).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

import torch

from infogan.errors import TrainingError

MAX_ROLLBACKS = 3  # nan_policy "rollback": give up after this many (learning rates then at 1/8)


class NonFiniteError(TrainingError):
    """A non-finite loss, gradient or weight; the message names the step and the values."""


def non_finite(step: int, what: str, values: dict | None = None, *, tensors: list[str] | None = None) -> NonFiniteError:
    """The error for a non-finite ``what`` ("loss", "gradient", "weights") at ``step``, naming the losses or tensors."""
    detail = ""
    if values is not None:
        loss = {k: float(values[k]) for k in ("loss_d", "loss_g")}
        detail = f" (loss_d={loss['loss_d']:.4g}, loss_g={loss['loss_g']:.4g})"
    if tensors:
        detail = f" in {', '.join(tensors[:4])}{' ...' if len(tensors) > 4 else ''}"
    return NonFiniteError(f"non-finite {what} at step {step}{detail}")


def check_step(model: torch.nn.Module, out: dict[str, torch.Tensor], step: int) -> None:
    """The losses and gradients of the step just taken are finite (one host sync).

    Raises:
        NonFiniteError: naming the step, the kind of value and the losses.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    # min and max are finite exactly when every element is (NaN propagates; a sum of squares could
    # overflow); aminmax is one vectorised pass, far cheaper than an inf-norm kernel
    g_ends = torch.stack([torch.stack(tuple(torch.aminmax(g))) for g in grads]) if grads else None
    loss_ok = torch.isfinite(out["loss_d"] + out["loss_g"])
    flags = torch.stack([loss_ok, torch.isfinite(g_ends).all() if g_ends is not None else loss_ok])
    if not bool(flags.all()):
        raise non_finite(step, "loss" if not bool(flags[0]) else "gradient", out)


def check_weights(model: torch.nn.Module, step: int) -> None:
    """Refuse to save non-finite weights.

    Raises:
        NonFiniteError: naming the step and the first tensors that are not finite.
    """
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise non_finite(step, "weights", tensors=bad)


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``request_stop`` (the loop then stops after the current step, with a state)
    inside the block; the previous handlers come back after it. Only the main thread can install them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: request_stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
