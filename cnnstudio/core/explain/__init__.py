"""Explaining one prediction: saliency, SmoothGrad, Grad-CAM and occlusion maps (Qt-free)."""

from cnnstudio.core.explain.attribution import (
                                                METHODS,
                                                Attribution,
                                                conv_layer_names,
                                                explain,
                                                grad_cam,
                                                occlusion,
                                                saliency,
                                                smoothgrad,
)

__all__ = ["METHODS", "Attribution", "conv_layer_names", "explain", "grad_cam", "occlusion", "saliency", "smoothgrad"]
