"""Attribution maps: which pixels of one image a classifier's answer depends on.

All four methods work on a Keras model that takes ``(H, W, C)`` images of raw 0..255 pixels (CNN
Studio models start with a Rescaling layer) and ends in class probabilities. Gradients come from
``tf.GradientTape``; no third-party explanation library is used.

- :func:`saliency` and :func:`smoothgrad` differentiate the class's *score*: its pre-softmax logit
  when the model ends in a Dense layer with a softmax activation (every CNN Studio model does),
  else its probability. :attr:`Attribution.score` says which.
- :func:`grad_cam` differentiates the same score with respect to a convolution layer's output.
- :func:`occlusion` needs no gradients: it measures the drop in the class *probability*.

Each returns an :class:`Attribution`: the heat map (H×W, float64) and the class explained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.inspection import layer_kind

METHODS = ("gradcam", "saliency", "smoothgrad", "occlusion")
OCCLUSION_BATCH = 64
MAX_SMOOTHGRAD_SAMPLES = 1000  # each sample is one more gradient; a thousand is already minutes on a CPU


@dataclass(frozen=True)
class Attribution:
    """One heat map: ``heat`` is H×W; ``class_probability`` is the model's probability for the class."""

    method: str
    class_index: int
    class_probability: float
    heat: np.ndarray
    score: str = "probability"  # what was differentiated or measured: "logit" or "probability"


def _input_shape(model: Any) -> tuple[int, int, int]:
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 4 or any(s is None for s in shape[1:]):
        raise CnnStudioError(f"this model does not take H×W×C images (its input is {shape}), so it cannot be explained")
    return tuple(int(s) for s in shape[1:])  # type: ignore[return-value]


def _input_dtype(model: Any) -> str:
    inputs = getattr(model, "inputs", None) or []
    return str(getattr(inputs[0], "dtype", "float32")) if inputs else "float32"


def _checked_image(model: Any, image: np.ndarray) -> np.ndarray:
    shape = _input_shape(model)
    image = np.asarray(image)
    if image.shape != shape:
        raise CnnStudioError(f"the image is {'×'.join(map(str, image.shape))} but the model takes "
                             f"{'×'.join(map(str, shape))}")
    return image.astype(_input_dtype(model))


def _softmax_head(model: Any) -> Any | None:
    """The final Dense layer when it applies softmax (its logits are then cheap to get), else None."""
    import keras

    last = model.layers[-1] if model.layers else None
    if last is None or last.__class__.__name__ != "Dense":
        return None
    activation = getattr(last, "activation", None)
    return last if activation in (keras.activations.softmax,) or getattr(activation, "__name__", "") == "softmax" \
        else None


class _Scorer:
    """Calls the model once and returns (extra outputs, class scores, probabilities) for a batch."""

    def __init__(self, model: Any, extra: list[Any] | None = None):
        import keras

        self.head = _softmax_head(model)
        self.score = "logit" if self.head is not None else "probability"
        outputs = list(extra or [])
        outputs.append(self.head.input if self.head is not None else model.outputs[0])
        self._model = keras.Model(model.input, outputs)

    def __call__(self, x: Any) -> tuple[list[Any], Any, Any]:
        import tensorflow as tf

        outputs = self._model(x, training=False)
        outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        last = outputs.pop()
        if self.head is None:
            return outputs, last, last
        logits = tf.matmul(last, tf.cast(self.head.kernel, last.dtype))
        if self.head.use_bias:
            logits = logits + tf.cast(self.head.bias, last.dtype)
        return outputs, logits, tf.nn.softmax(logits, axis=-1)


def _class_index(class_index: int | None, probabilities: np.ndarray) -> int:
    classes = probabilities.shape[-1]
    if class_index is None:
        return int(np.argmax(probabilities))
    if not 0 <= int(class_index) < classes:
        raise CnnStudioError(f"class {class_index} does not exist: the model has classes 0..{classes - 1}")
    return int(class_index)


def _gradients(scorer: _Scorer, batch: np.ndarray, class_index: int | None) -> tuple[np.ndarray, int, float]:
    """|d score / d input| for each image of ``batch`` (N×H×W×C), the class and its probability for the first."""
    import tensorflow as tf

    x = tf.convert_to_tensor(batch)
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, scores, probabilities = scorer(x)
        chosen = _class_index(class_index, np.asarray(probabilities)[0])
        target = tf.reduce_sum(scores[:, chosen])
    grads = np.asarray(tape.gradient(target, x), dtype=np.float64)
    return grads, chosen, float(np.asarray(probabilities)[0, chosen])


def saliency(model: Any, image: np.ndarray, class_index: int | None = None) -> Attribution:
    """|d score / d pixel|, the maximum over channels (score: the logit, see the module's note)."""
    x = _checked_image(model, image)
    scorer = _Scorer(model)
    grads, chosen, probability = _gradients(scorer, x[np.newaxis], class_index)
    return Attribution("saliency", chosen, probability, np.abs(grads[0]).max(axis=-1), scorer.score)


def smoothgrad(model: Any, image: np.ndarray, class_index: int | None = None, samples: int = 25,
               noise: float = 0.15, seed: int = 0) -> Attribution:
    """The mean saliency over ``samples`` copies with Gaussian noise (σ = ``noise`` × 255) added.

    The class explained (by default) is the one predicted for the clean image.
    """
    if not 1 <= samples <= MAX_SMOOTHGRAD_SAMPLES:
        raise CnnStudioError(f"smoothgrad takes 1..{MAX_SMOOTHGRAD_SAMPLES} samples, not {samples}")
    if not 0.0 <= noise <= 1.0:  # also refuses nan
        raise CnnStudioError(f"the noise level must be a fraction from 0 to 1, not {noise}")
    x = _checked_image(model, image)
    scorer = _Scorer(model)
    _, _, clean = scorer(x[np.newaxis])
    chosen = _class_index(class_index, np.asarray(clean)[0])
    rng = np.random.default_rng(seed)
    noisy = x[np.newaxis] + rng.normal(0.0, noise * 255.0, size=(samples, *x.shape)) if noise > 0 \
        else np.repeat(x[np.newaxis], samples, axis=0)
    grads, _, _ = _gradients(scorer, noisy.astype(x.dtype), chosen)
    heat = np.abs(grads).max(axis=-1).mean(axis=0)
    return Attribution("smoothgrad", chosen, float(np.asarray(clean)[0, chosen]), heat, scorer.score)


def conv_layer_names(model: Any) -> list[str]:
    """The names of the model's Conv2D layers, first to last."""
    return [layer.name for layer in model.layers if layer_kind(layer) == "Conv2D"]


def _conv_layer(model: Any, name: str | None) -> Any:
    names = conv_layer_names(model)
    if not names:
        raise CnnStudioError("this model has no convolution layers, so Grad-CAM has nothing to look at")
    if name is None:
        name = names[-1]
    if name not in names:
        raise CnnStudioError(f"{name!r} is not a convolution layer of this model; choose one of: {', '.join(names)}")
    return model.get_layer(name)


def grad_cam_heat(activations: np.ndarray, gradients: np.ndarray, size: tuple[int, int],
                  field: tuple[float, float, float] | None = None) -> np.ndarray:
    """ReLU(Σ_k α_k A_k), α_k the spatial mean of the gradients, brought to ``size``, scaled to 0..1.

    ``activations`` and ``gradients`` are h×w×K for one image; all zeros when nothing is positive.
    With ``field`` = (start_y, start_x, jump) (the layer's receptive field: the input pixel at the
    centre of cell (0, 0), and the pixels between neighbouring cells) each cell's value sits at the
    centre of its field and pixels between centres are interpolated linearly (pixels past the outer
    centres take the nearest cell's value); without it the map is stretched over the image (bilinear).
    """
    alpha = gradients.mean(axis=(0, 1))
    cam = np.maximum((activations * alpha).sum(axis=-1), 0.0)
    if field is None:
        import tensorflow as tf

        heat = np.asarray(tf.image.resize(cam[..., np.newaxis].astype(np.float64), size, method="bilinear"),
                          dtype=np.float64)[..., 0]
    else:
        start_y, start_x, jump = field
        rows = (np.arange(size[0]) - start_y) / jump  # each pixel's position in cells
        cols = (np.arange(size[1]) - start_x) / jump
        by_rows = np.stack([np.interp(rows, np.arange(cam.shape[0]), cam[:, j]) for j in range(cam.shape[1])], axis=1)
        heat = np.stack([np.interp(cols, np.arange(cam.shape[1]), line) for line in by_rows])
    top = heat.max()
    return heat / top if top > 0 else np.zeros_like(heat)


def layer_field(model: Any, name: str) -> tuple[float, float, float] | None:
    """(start_y, start_x, jump) of layer ``name``'s receptive field in input pixels, when it can be traced."""
    from cnnstudio.core.explain.operation import model_table

    table = model_table(model)
    if table is None:
        return None
    for row, field in zip(table.rows, table.receptive_fields()):
        if row.name == name:
            if field is None or field.whole or field.frame != "input" or field.start is None or not field.jump:
                return None
            return field.start[0], field.start[1], float(field.jump)
    return None


def grad_cam(model: Any, image: np.ndarray, class_index: int | None = None, layer: str | None = None) -> Attribution:
    """Grad-CAM on the convolution layer ``layer`` (default: the last Conv2D), 0..1 at the input's size.

    Each cell of the layer's map is placed at the centre of its receptive field (see
    :func:`grad_cam_heat`), so the heat lies over the pixels that cell saw.
    """
    import tensorflow as tf

    x = _checked_image(model, image)
    conv = _conv_layer(model, layer)
    scorer = _Scorer(model, [conv.output])
    with tf.GradientTape() as tape:
        (activations,), scores, probabilities = scorer(tf.convert_to_tensor(x[np.newaxis]))
        tape.watch(activations)
        chosen = _class_index(class_index, np.asarray(probabilities)[0])
        target = scores[0, chosen]
    grads = tape.gradient(target, activations)
    a = np.asarray(activations, dtype=np.float64)[0]
    g = np.zeros_like(a) if grads is None else np.asarray(grads, dtype=np.float64)[0]
    heat = grad_cam_heat(a, g, x.shape[:2], layer_field(model, conv.name))
    return Attribution("gradcam", chosen, float(np.asarray(probabilities)[0, chosen]), heat, scorer.score)


def occlusion_positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the patches along one axis: every ``stride`` pixels, the last one flush with the edge."""
    positions = list(range(0, size - patch + 1, stride))
    if positions[-1] != size - patch:
        positions.append(size - patch)
    return positions


def occlusion(model: Any, image: np.ndarray, class_index: int | None = None, patch: int = 4, stride: int = 2,
              fill: float | None = None, progress: Callable[[int, int], None] | None = None,
              stop: Callable[[], bool] | None = None) -> Attribution | None:
    """The drop in the class probability when a ``patch``×``patch`` square of ``fill`` (default mid-grey, 127.5)
    covers each position, averaged over the patches covering each pixel. None when ``stop()`` says so.

    Predictions run in batches of :data:`OCCLUSION_BATCH`; ``progress(done, total)`` follows them.
    """
    x = _checked_image(model, image)
    height, width = x.shape[:2]
    if not (1 <= patch <= min(height, width)):
        raise CnnStudioError(f"the patch must be 1..{min(height, width)} pixels, not {patch}")
    if not (1 <= stride <= min(height, width)):
        raise CnnStudioError(f"the stride must be 1..{min(height, width)} pixels, not {stride}")
    fill = 127.5 if fill is None else float(fill)
    if not 0.0 <= fill <= 255.0:  # also refuses nan
        raise CnnStudioError(f"the occlusion fill must be a pixel value from 0 to 255, not {fill}")
    base = np.asarray(model(x[np.newaxis], training=False), dtype=np.float64)[0]
    chosen = _class_index(class_index, base)
    spots = [(top, left) for top in occlusion_positions(height, patch, stride)
             for left in occlusion_positions(width, patch, stride)]
    total, done = len(spots), 0
    heat = np.zeros((height, width))
    counts = np.zeros((height, width))
    for start in range(0, total, OCCLUSION_BATCH):
        if stop is not None and stop():
            return None
        chunk = spots[start:start + OCCLUSION_BATCH]
        batch = np.repeat(x[np.newaxis], len(chunk), axis=0)
        for i, (top, left) in enumerate(chunk):
            batch[i, top:top + patch, left:left + patch, :] = fill
        probabilities = np.asarray(model(batch, training=False), dtype=np.float64)[:, chosen]
        for (top, left), p in zip(chunk, probabilities):
            heat[top:top + patch, left:left + patch] += base[chosen] - p
            counts[top:top + patch, left:left + patch] += 1
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return Attribution("occlusion", chosen, float(base[chosen]), heat / np.maximum(counts, 1), "probability")


def explain(model: Any, image: np.ndarray, method: str, class_index: int | None = None, layer: str | None = None,
            patch: int = 4, stride: int = 2, *, samples: int = 25, noise: float = 0.15, fill: float | None = None,
            progress: Callable[[int, int], None] | None = None,
            stop: Callable[[], bool] | None = None) -> Attribution | None:
    """One of :data:`METHODS` by name; settings that do not apply to the method are ignored.

    ``progress`` and ``stop`` reach occlusion, the one method long enough to need them.
    """
    if method == "gradcam":
        return grad_cam(model, image, class_index, layer)
    if method == "saliency":
        return saliency(model, image, class_index)
    if method == "smoothgrad":
        return smoothgrad(model, image, class_index, samples, noise)
    if method == "occlusion":
        return occlusion(model, image, class_index, patch, stride, fill, progress, stop)
    raise CnnStudioError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
