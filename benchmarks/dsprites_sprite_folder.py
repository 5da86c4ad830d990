"""Write a folder of dSprites renders with some factors held at one class: a small, fast testbed for the GAN.

    python benchmarks/dsprites_sprite_folder.py OUT [--fix scale,pos_x,pos_y]
    infogan train --preset dsprites --data imagefolder:OUT --iterations 3000 --no-eval

Every combination of the free factors is rendered once (``--fix scale,pos_x,pos_y``: the 3 shapes x 40
orientations at scale 1.0 in the centre, 120 images) and written as 64x64 greyscale PNGs (0 and 255), which
``--data imagefolder:OUT`` trains on. The held classes are those of ``dsprites_g_capacity.py``, where a G
trained by supervision on the same sprites learns them in a few thousand steps: a GAN that does not, on the
same networks, points at the game rather than at G's capacity.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from dsprites_g_capacity import FIXED_CLASS, parse_fix
from PIL import Image

from infogan.data.dsprites import FACTOR_NAMES, all_factor_classes, render_dsprites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write (must not exist, or be empty)")
    parser.add_argument("--fix", default="scale,pos_x,pos_y",
                        help=f"factors held at one class, comma-separated ({', '.join(FIXED_CLASS)})")
    args = parser.parse_args()
    fix = parse_fix(parser, args.fix)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty; choose a new folder")
    classes = all_factor_classes()  # (737280, 5)
    keep = np.ones(len(classes), dtype=bool)
    for name in fix:
        keep &= classes[:, FACTOR_NAMES.index(name)] == FIXED_CLASS[name]
    images = render_dsprites(classes[keep])  # (N, 64, 64) in {0, 1}
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray((image * 255).astype(np.uint8)).save(out / f"{i:06d}.png")
    print(f"{len(images)} sprites in {out}")


if __name__ == "__main__":
    main()
