"""The Qt-free core of CNN Studio: configs, architectures, datasets, training, inspection, files."""
