"""Datasets: the built-in and Keras sets, IDX/NPZ/image-folder readers, digit preprocessing, the dataset cache."""
