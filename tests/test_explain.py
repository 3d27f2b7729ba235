"""Attribution maps checked against independent computations, and the ``cnnstudio explain`` command."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_cli import assert_one_line_error, cli, last_json

from cnnstudio.core.errors import CnnStudioError

keras = pytest.importorskip("keras")


def tiny_model(dtype: str = "float32", activation: str = "tanh", seed: int = 3) -> Any:
    """Input(6,6,1) → Rescaling → Conv2D(2,3) → Flatten → Dense(3, softmax), random weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 1), dtype=dtype)
    x = keras.layers.Rescaling(1 / 255, dtype=dtype)(inputs)
    x = keras.layers.Conv2D(2, 3, activation=activation, name="conv", dtype=dtype)(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="output", dtype=dtype)(x)
    model = keras.Model(inputs, outputs)
    for weight in model.weights:  # big enough that the classes differ clearly
        weight.assign(np.random.default_rng(seed).normal(0, 2.0, weight.shape).astype(dtype))
    return model


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (6, 6, 1))


def logits(model: Any, x: np.ndarray) -> np.ndarray:
    """The pre-softmax scores, computed independently: a model up to the Dense layer's input, then NumPy."""
    features = keras.Model(model.input, model.get_layer("output").input)(x, training=False)
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in model.get_layer("output").weights)
    return np.asarray(features, dtype=np.float64) @ kernel + bias


def test_saliency_matches_central_finite_differences() -> None:
    from cnnstudio.core.explain import saliency

    model, x = tiny_model("float64"), image()
    result = saliency(model, x)
    scores = logits(model, x[np.newaxis])[0]
    assert result.class_index == int(np.argmax(scores)) and result.score == "logit"
    assert result.class_probability == pytest.approx(float(np.max(np.exp(scores) / np.exp(scores).sum())))
    eps = 1e-3
    estimate = np.zeros((6, 6))
    for r in range(6):
        for c in range(6):
            up, down = x.copy(), x.copy()
            up[r, c, 0] += eps
            down[r, c, 0] -= eps
            batch = np.stack([up, down])
            high, low = logits(model, batch)[:, result.class_index]
            estimate[r, c] = abs(high - low) / (2 * eps)
    assert result.heat.shape == (6, 6)
    np.testing.assert_allclose(result.heat, estimate, rtol=1e-5, atol=1e-9)
    other = saliency(model, x, class_index=(result.class_index + 1) % 3)
    assert other.class_index == (result.class_index + 1) % 3 and not np.allclose(other.heat, result.heat)


def test_smoothgrad_without_noise_is_saliency_and_with_noise_is_reproducible() -> None:
    from cnnstudio.core.explain import saliency, smoothgrad

    model, x = tiny_model(), image()
    plain = saliency(model, x, 1)
    smooth = smoothgrad(model, x, 1, samples=1, noise=0.0)
    assert smooth.class_index == 1 and smooth.method == "smoothgrad"
    np.testing.assert_allclose(smooth.heat, plain.heat, rtol=1e-6)
    noisy = smoothgrad(model, x, samples=4, noise=0.1, seed=5)
    np.testing.assert_array_equal(noisy.heat, smoothgrad(model, x, samples=4, noise=0.1, seed=5).heat)
    assert not np.allclose(noisy.heat, saliency(model, x, noisy.class_index).heat)


def test_grad_cam_matches_a_numpy_reimplementation() -> None:

    from cnnstudio.core.explain import grad_cam

    model, x = tiny_model("float64", activation="relu", seed=4), image(1)
    result = grad_cam(model, x)
    # Independently: the conv activations A, then the logits as a function of A (Flatten → Dense in NumPy).
    a = np.asarray(keras.Model(model.input, model.get_layer("conv").output)(x[np.newaxis]), dtype=np.float64)[0]
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in model.get_layer("output").weights)
    scores = a.reshape(-1) @ kernel + bias
    chosen = int(np.argmax(scores))
    assert result.class_index == chosen
    gradients = kernel[:, chosen].reshape(a.shape)  # d logit / d A for a linear head
    cam = np.maximum((a * gradients.mean(axis=(0, 1))).sum(axis=-1), 0.0)
    # A 3×3 'valid' convolution on 6×6: cell (i, j) is centred on pixel (i + 1, j + 1); the border
    # pixels take the nearest cell's value, the inner 4×4 are the cells themselves.
    expected = cam[np.clip(np.arange(6) - 1, 0, 3)][:, np.clip(np.arange(6) - 1, 0, 3)]
    assert expected.max() > 0  # a map with something in it
    expected = expected / expected.max()
    assert result.heat.shape == (6, 6) and result.heat.min() >= 0 and result.heat.max() <= 1
    np.testing.assert_allclose(result.heat, expected, rtol=1e-6, atol=1e-9)


def test_grad_cam_places_each_cell_over_its_receptive_field() -> None:
    """With a stride of 2 and 'same' padding the cells sit 2 pixels apart; pixels between centres are
    linear blends, checked against a hand-written loop; without a field the map is stretched (tf bilinear)."""
    import tensorflow as tf

    from cnnstudio.core.explain.attribution import grad_cam_heat

    cam = np.array([[1.0, 3.0], [0.0, 2.0]])
    gradients = np.ones((2, 2, 1))
    heat = grad_cam_heat(cam[..., None], gradients, (5, 5), field=(0.5, 1.0, 2.0))
    expected = np.zeros((5, 5))
    for y in range(5):
        for x in range(5):
            r, c = min(max((y - 0.5) / 2, 0.0), 1.0), min(max((x - 1.0) / 2, 0.0), 1.0)
            top = cam[0, 0] * (1 - c) + cam[0, 1] * c
            bottom = cam[1, 0] * (1 - c) + cam[1, 1] * c
            expected[y, x] = top * (1 - r) + bottom * r
    np.testing.assert_allclose(heat, expected / expected.max())
    stretched = np.asarray(tf.image.resize(cam[..., None], (5, 5), method="bilinear"))[..., 0]
    np.testing.assert_allclose(grad_cam_heat(cam[..., None], gradients, (5, 5)), stretched / stretched.max(),
                               rtol=1e-6)


def test_grad_cam_refuses_unknown_and_non_convolution_layers() -> None:
    from cnnstudio.core.explain import grad_cam

    model = tiny_model()
    for name in ("nope", "output"):
        with pytest.raises(CnnStudioError, match="choose one of: conv$"):
            grad_cam(model, image(), layer=name)
    with pytest.raises(CnnStudioError, match="classes 0..2"):
        grad_cam(model, image(), class_index=3)


def test_occlusion_matches_a_brute_force_loop() -> None:
    from cnnstudio.core.explain import occlusion

    model, x = tiny_model(), image(2)
    calls: list[tuple[int, int]] = []
    result = occlusion(model, x, class_index=2, patch=3, stride=2, fill=100.0,
                       progress=lambda done, total: calls.append((done, total)))
    assert result is not None and result.class_index == 2
    probability = lambda z: float(np.asarray(model(z[np.newaxis].astype("float32")))[0, 2])  # noqa: E731
    base = probability(x)
    heat, counts = np.zeros((6, 6)), np.zeros((6, 6))
    for top in (0, 2, 3):  # every 2 pixels, the last patch flush with the edge
        for left in (0, 2, 3):
            covered = x.copy()
            covered[top:top + 3, left:left + 3] = 100.0
            heat[top:top + 3, left:left + 3] += base - probability(covered)
            counts[top:top + 3, left:left + 3] += 1
    np.testing.assert_allclose(result.heat, heat / counts, atol=2e-6)
    assert calls == [(9, 9)] and result.class_probability == pytest.approx(base, abs=1e-6)
    assert occlusion(model, x, stop=lambda: True) is None
    with pytest.raises(CnnStudioError, match="patch must be 1..6"):
        occlusion(model, x, patch=7)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, Path]:
    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.files.model_record import ModelRecord
    from cnnstudio.core.files.persistence import save_model
    from cnnstudio.core.network.model_builder import build_model

    folder = tmp_path_factory.mktemp("explain")
    experiment = Experiment(ModelOptions(), TrainOptions(epochs=1), "digits")
    model = build_model(experiment.model, (28, 28, 1), 10)
    record = ModelRecord(experiment, [str(i) for i in range(10)], (28, 28, 1), digit_like=True)
    save_model(model, folder / "lenet5.keras", record)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(folder / "digit.png")
    return folder / "lenet5.keras", folder / "digit.png"


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_cli_explain_writes_a_png_and_json(saved, tmp_path, method) -> None:
    model, digit = saved
    out = tmp_path / "heat.png"
    result = cli("explain", str(model), str(digit), "--method", method, "--class", "3", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    data = last_json(result.stdout)
    assert data["method"] == method and data["class"] == 3 and data["out"] == str(out)
    assert data["score"] == ("logit" if method == "gradcam" else "probability")
    assert 0.0 <= data["probability"] <= 1.0 and data["heat_min"] <= data["heat_max"]
    json.dumps(data, allow_nan=False)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(out).size[0] > 50
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "class 3" in lines[0] and str(out) in lines[0]


def test_cli_explain_bad_input_is_one_line_and_exit_2(saved, tmp_path) -> None:
    model, digit = saved
    out = str(tmp_path / "heat.png")
    assert_one_line_error(cli("explain", str(model), str(digit), "--class", "10", "--out", out), "classes 0..9")
    assert_one_line_error(cli("explain", str(model), str(digit), "--layer", "nope", "--out", out), "choose one of")
    assert_one_line_error(cli("explain", str(model), str(digit), "--method", "occlusion", "--patch", "29",
                              "--out", out), "--patch must be 1..28")
    assert_one_line_error(cli("explain", str(model), str(digit), "--out", str(tmp_path / "no" / "h.png")),
                          "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if not os.access(locked, os.W_OK):  # root writes anywhere
            assert_one_line_error(cli("explain", str(model), str(digit), "--out", str(locked / "h.png")),
                                  "cannot write")
    finally:
        locked.chmod(stat.S_IRWXU)
    assert not Path(out).exists()


def test_cli_explain_smoothgrad_and_occlusion_settings(saved, tmp_path) -> None:
    """--samples/--noise reach SmoothGrad (one noiseless sample is saliency) and --fill reaches occlusion."""
    model, digit = saved
    heats = {}
    for name, extra in {"saliency": ["--method", "saliency"],
                        "smooth": ["--method", "smoothgrad", "--samples", "1", "--noise", "0"],
                        "grey": ["--method", "occlusion"],
                        "black": ["--method", "occlusion", "--fill", "0"]}.items():
        result = cli("explain", str(model), str(digit), *extra, "--class", "1", "--out", str(tmp_path / f"{name}.png"),
                     "--json")
        assert result.returncode == 0, result.stderr
        heats[name] = last_json(result.stdout)
    assert heats["smooth"]["heat_max"] == pytest.approx(heats["saliency"]["heat_max"], rel=1e-5)
    assert heats["black"]["heat_max"] != pytest.approx(heats["grey"]["heat_max"], rel=1e-3)


@pytest.mark.parametrize(("flags", "reason"), [
    (["--samples", "0"], "--samples must be 1..1000"),
    (["--samples", "1001"], "--samples must be 1..1000"),
    (["--noise", "nan"], "--noise must be a fraction"),
    (["--noise", "-0.1"], "--noise must be a fraction"),
    (["--fill", "256"], "--fill must be a pixel value"),
    (["--fill", "nan"], "--fill must be a pixel value"),
])
def test_cli_explain_refuses_bad_method_settings(saved, tmp_path, flags, reason) -> None:
    model, digit = saved
    out = tmp_path / "heat.png"
    assert_one_line_error(cli("explain", str(model), str(digit), *flags, "--out", str(out)), reason)
    assert not out.exists()


def test_occluding_the_ink_costs_more_than_occluding_the_border_on_real_mnist(mnist_dir) -> None:
    """On a LeNet-5 trained two epochs on the shared MNIST files, the occlusion map is hotter on the
    digit's ink (pixels above 127) than on the blank pixels of the 4-pixel border, for most of the first 100 test digits."""
    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.experiments.runner import run_experiment
    from cnnstudio.core.explain import occlusion

    mnist = load_dataset(str(mnist_dir))
    outcome = run_experiment(Experiment(ModelOptions(), TrainOptions(epochs=2, seed=1), str(mnist_dir)), mnist)
    assert outcome.record.test_accuracy > 0.95
    border = np.ones((28, 28), bool)
    border[4:-4, 4:-4] = False
    wins = 0
    for x in mnist.x_test[:100]:
        heat = occlusion(outcome.model, x, patch=4, stride=2).heat
        ink, blank = x[..., 0] > 127, border & (x[..., 0] == 0)  # a few digits reach into the border
        assert ink.any() and blank.sum() > 200
        wins += heat[ink].mean() > heat[blank].mean()
    print(f"occluding the ink cost more than occluding the border for {wins} of 100 test digits")
    assert wins >= 75  # 86 of 100 measured (grey 4×4 patches, stride 2); a grey blob on the blank border costs too


@pytest.mark.parametrize(("value", "limits"), [(0.698, (0.0, 0.698)), (0.0, (0.0, 1.0)), (-0.2, (-0.2, 0.0))])
def test_a_flat_heat_map_gets_a_colour_bar_that_ends_at_its_value(value, limits) -> None:
    """An occlusion map with one patch is one value everywhere: its bar must not promise drops it never had."""
    from matplotlib.figure import Figure

    from cnnstudio.core.explain.heat_image import draw_heat

    figure = Figure()
    axes = figure.subplots()
    draw_heat(figure, axes, np.zeros((28, 28, 1)), np.full((28, 28), value), "occlusion")
    heat = axes.get_images()[-1]
    assert heat.get_clim() == pytest.approx(limits)
    assert f"flat: {value:.3g} everywhere" in axes.get_title()
