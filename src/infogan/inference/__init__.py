"""Using a trained model: generate images for chosen codes (:mod:`~.generate`), encode real images with Q
(:mod:`~.encode`), draw grids and traversal sheets (:mod:`~.viz`), export G and Q (:mod:`~.export`). Nothing
here imports the training package: a snapshot is all it needs."""
