"""Where and how training runs: the device and precision (:mod:`~.device`), the speed switches
(:mod:`~.speed`), torchrun/DDP plumbing (:mod:`~.distributed`) and the per-process :class:`~.engine.Engine`
that the loop asks for all of them."""
