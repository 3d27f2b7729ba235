"""Files shipped with CNN Studio (installed as the ``cnnstudio.resources`` package)."""
