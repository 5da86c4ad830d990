"""CelebA (Liu et al., 2015), aligned and cropped faces, as the InfoGAN CelebA experiment uses them.

CelebA cannot be fetched here: download ``img_align_celeba.zip`` from the official project page
(mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "Align&Cropped Images") and unzip it so that
``<data dir>/celeba/img_align_celeba/000001.jpg`` exists. The 202,599 images are 178 x 218 pixels.

Preprocessing: a centered 108 x 108 crop (the face region; the usual DCGAN-era CelebA recipe, since the
InfoGAN paper does not state one), resized to 32 x 32 RGB (Appendix C, Table 3). Decoded once, then
cached by :func:`load_image_folder`.
"""

from __future__ import annotations

import os

from infogan.data.base import ImageData, default_data_dir
from infogan.data.imagefolder import load_image_folder, locate_folder

SOURCE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images: img_align_celeba.zip)"
CROP = 108  # centered square taken from the 178 x 218 aligned image


def load_celeba(data_dir: str | os.PathLike | None = None, *, path: str | os.PathLike | None = None,
                image_size: int = 32, channels: int = 3, cache: bool = True) -> ImageData:
    """Load the aligned CelebA images.

    Args:
        data_dir: cache root; the images are looked for in ``<data_dir>/celeba/img_align_celeba``.
        path: the ``img_align_celeba`` folder (or its parent) instead of the default location.
        image_size: output side; 32 in the paper.
        channels: 3 (RGB, the paper) or 1.
        cache: use the preprocessing cache.

    Returns:
        ImageData (N, channels, image_size, image_size) uint8, labels None, name "celeba".

    Raises:
        DataError: the folder is missing (says where to download it and where to put it), or holds
            no readable image.
    """
    folder = locate_folder(path, default_data_dir(data_dir), "celeba/img_align_celeba",
                           title="CelebA", source=SOURCE)
    return load_image_folder(folder, size=image_size, channels=channels, crop=CROP, cache=cache,
                             data_dir=data_dir, name="celeba")
