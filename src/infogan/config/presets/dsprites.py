"""The dSprites preset: InfoGAN-CR's modified InfoGAN (Lin et al., ICML 2020) and its schedules."""

from __future__ import annotations

from collections.abc import Callable

from infogan.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
)
from infogan.latent.syntax import parse_latent

DSPRITES_FULL_ITERATIONS = 28 * 737280 // 64  # 322,560: InfoGAN-CR's 28 epochs at batch 64
# InfoGAN-CR's released code: 28 epochs of the 737,280 images at batch 64
FULL = TrainConfig(iterations=DSPRITES_FULL_ITERATIONS, batch_size=64, tick=500, snapshot_every=10000)
# reduced schedule for a 2-core CPU, named as such in every result it produces
CPU = TrainConfig(iterations=3000, batch_size=64, tick=100, snapshot_every=1000)


def dsprites() -> RunConfig:
    """InfoGAN-CR's modified InfoGAN on dSprites: 5 continuous Uniform(-1, 1) codes with Q's std fixed (1.0) and
    lambda 0.05, 5 noise dimensions, spectral norm in D, batch 64, lr G 1e-3 / lr D 2e-3. The default (``full``)
    schedule is the 28 epochs of InfoGAN-CR's released code (github.com/fjxmlzn/InfoGAN-CR,
    ``InfoGAN-CR_dSprites/config.py``: epoch 28, batch 64): 322,560 iterations, 20.6 M images; ``--schedule cpu``
    is a reduced schedule named as such. Architecture: :mod:`infogan.models.dsprites`.
    """
    return RunConfig(
        preset="dsprites",
        model=ModelConfig(arch="dsprites", latent=parse_latent("noise5:uniform,unif5:lambda=0.05:std=fixed"),
                          image_shape=(1, 64, 64), leaky_slope=0.2, output="sigmoid", spectral_norm=True),
        optim=OptimConfig(lr_d=2e-3, lr_g=1e-3, beta1=0.5),
        train=FULL,
        data=DataConfig(dataset="dsprites"),
    )


def dsprites_cr() -> RunConfig:
    """InfoGAN-CR's released dSprites code (github.com/fjxmlzn/InfoGAN-CR, ``InfoGAN-CR_dSprites``), as far as
    this trainer expresses it. Architecture and initialisation: :mod:`infogan.models.dsprites_cr`.

    ``config.py`` ``global_config``: ``epoch`` 28, ``batch_size`` 64, ``uniform_reg_dim`` 5 (the codes),
    ``uniform_not_reg_dim`` 5 (the noise), ``de_lr`` 1e-3 (G), ``infod_lr`` 2e-3 (D and Q), ``q_l_dim`` 128;
    ``test_config``: ``info_coe_de`` = ``info_coe_infod`` = 0.05 (lambda, in both optimisers). ``gan_task.py``:
    ``UniformLatent(low=-1.0, high=1.0, q_std=1.0)`` for codes and noise. ``gan/infogan_cr.py``: ``INFOGAN_CR``
    defaults ``de_beta1`` = ``infod_beta1`` = 0.5 (beta2: TensorFlow's Adam default, 0.999). ``gan/op.py``:
    ``lrelu`` leak 0.2. ``INFOGAN_CR.train``: each iteration one D/Q step, then two G steps on the same z and c
    (``g_steps`` 2), then one spectral-norm power iteration (``sn_update`` per_iteration); batches from a
    shuffle per epoch (``sampling`` epoch); ``build_loss``: -log(D + 1e-8) (``loss_eps``). Not expressed (the
    "InfoGAN (modified)" row does not use it): the CR term (``cr_coe_increase`` 2.0 from iteration
    ``cr_coe_increase_batch`` 288,000).
    """
    return dsprites().replace(preset="dsprites-cr", model={"arch": "dsprites-cr"},
                              optim={"beta1": 0.5, "beta2": 0.999, "info_to_g": True, "info_to_d": True, "g_steps": 2,
                                     "loss_eps": 1e-8, "sn_update": "per_iteration", "g_latent": "shared"},
                              train={"sampling": "epoch"})


PRESETS: dict[str, Callable[[], RunConfig]] = {"dsprites": dsprites, "dsprites-cr": dsprites_cr}
SCHEDULES: dict[str, dict[str, TrainConfig]] = {"dsprites": {"full": FULL, "cpu": CPU},
                                                "dsprites-cr": {"full": FULL, "cpu": CPU}}
