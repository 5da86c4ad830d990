"""Training: the InfoGAN objective (:mod:`~.objective`), the loop (:mod:`~.loop`), the resume state
(:mod:`~.state`), run folders (:mod:`~.rundir`) and the one way a run is started (:mod:`~.session`)."""

from infogan.training.guard import NonFiniteError
from infogan.training.loop import Trainer, TrainResult

__all__ = ["NonFiniteError", "TrainResult", "Trainer"]
