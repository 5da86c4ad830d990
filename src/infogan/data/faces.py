"""3D Faces: renders of the Basel Face Model (Paysan et al., 2009), the InfoGAN "3D Faces" experiment.

The paper uses face renders that vary in azimuth, elevation and lighting, the same data as DC-IGN
(Kulkarni et al., 2015). They cannot be fetched here: obtain the Basel Face Model from
faces.dmi.unibas.ch (registration required) and its renders, and put the image files (any
subfolder layout) in ``<data dir>/faces/``.

Preprocessing: greyscale, largest centered square, resized to 32 x 32 (Appendix C).
"""

from __future__ import annotations

import os

from infogan.data.base import ImageData, default_data_dir
from infogan.data.imagefolder import load_image_folder, locate_folder

SOURCE = ("https://faces.dmi.unibas.ch (Basel Face Model; the paper uses the renders of "
          "Kulkarni et al. 2015, DC-IGN)")


def load_faces(data_dir: str | os.PathLike | None = None, *, path: str | os.PathLike | None = None,
               image_size: int = 32, channels: int = 1, cache: bool = True) -> ImageData:
    """Load the 3D face renders.

    Args:
        data_dir: cache root; the images are looked for in ``<data_dir>/faces``.
        path: the folder of renders instead of the default location.
        image_size: output side; 32 in the paper.
        channels: 1 (greyscale, the paper) or 3.
        cache: use the preprocessing cache.

    Returns:
        ImageData (N, channels, image_size, image_size) uint8, name "faces"; labels are the
        subfolder index when the renders sit in subfolders (e.g. one per face), else None.

    Raises:
        DataError: the folder is missing (says where to get it and where to put it), or holds no
            readable image.
    """
    folder = locate_folder(path, default_data_dir(data_dir), "faces",
                           title="3D Faces", source=SOURCE)
    return load_image_folder(folder, size=image_size, channels=channels, crop="center", cache=cache,
                             data_dir=data_dir, name="faces")
