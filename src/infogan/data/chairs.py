"""3D Chairs (Aubry et al., 2014): 86,366 renders of 1,393 chair models, the InfoGAN "3D Chairs" experiment.

It cannot be fetched here: download ``rendered_chairs.tar`` from the project page
(www.di.ens.fr/willow/research/seeing3Dchairs/) and unpack it so that
``<data dir>/chairs/rendered_chairs/<chair id>/renders/*.png`` exists.

Preprocessing: greyscale, largest centered square (the renders are 600 x 600), resized to 64 x 64
(Appendix C). Labels are the chair model (index of the ``<chair id>`` folder in sorted order).

Note: the renders have a white background, so most pixels are 255 (1.0 after scaling); this loader
does not invert them. A sigmoid generator must learn to output ~1 on the background.
"""

from __future__ import annotations

import os

from infogan.data.base import ImageData, default_data_dir
from infogan.data.imagefolder import load_image_folder, locate_folder

SOURCE = "https://www.di.ens.fr/willow/research/seeing3Dchairs/ (rendered_chairs.tar)"


def load_chairs(data_dir: str | os.PathLike | None = None, *, path: str | os.PathLike | None = None,
                image_size: int = 64, channels: int = 1, cache: bool = True) -> ImageData:
    """Load the rendered chairs.

    Args:
        data_dir: cache root; the images are looked for in ``<data_dir>/chairs/rendered_chairs``.
        path: the ``rendered_chairs`` folder (or its parent) instead of the default location.
        image_size: output side; 64 in the paper.
        channels: 1 (greyscale, the paper) or 3.
        cache: use the preprocessing cache.

    Returns:
        ImageData (N, channels, image_size, image_size) uint8, labels (N,) int64 chair model index,
        name "chairs".

    Raises:
        DataError: the folder is missing (says where to download it and where to put it), or holds
            no readable image.
    """
    folder = locate_folder(path, default_data_dir(data_dir), "chairs/rendered_chairs",
                           title="3D Chairs", source=SOURCE,
                           notes="white background")
    return load_image_folder(folder, size=image_size, channels=channels, crop="center", cache=cache,
                             data_dir=data_dir, name="chairs")
