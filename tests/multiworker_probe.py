"""One worker of a two-worker ``MultiWorkerMirroredStrategy`` on loopback; see test_multiworker.py.

Run as ``TF_CONFIG=… python tests/multiworker_probe.py OUT_DIR`` in two processes at once (worker 0
and worker 1 of the same cluster). Each makes the app's strategy first (before any other
TensorFlow operation), then records in ``OUT_DIR/worker-I.json``:

- ``plain_error``: ``fit`` on NumPy with the strategy's own ``reduce`` (the class TensorFlow ships),
- ``scalar_error``: ``fit`` with only the batch mended (scalar logs still reduced with ``axis=0``),
- ``shards``: what each worker gets of each global batch from Keras' array adapter, distributed
  as ``fit`` distributes it (``x`` holds the image numbers, so the numbers are those images),
- ``steps``: batches per epoch that ``fit`` ran on this worker, with the mended strategy
  (``evaluate``: then ``model.evaluate``'s loss and accuracy),
- ``steps_per_execution_4``: ``fit`` compiled with 4 batches per call ("ok" or the error),
- ``chief_only_save``: the chief saves alone, then both train one more epoch together ("ok" or the error).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from probe_evidence import attempt, evidence  # beside this script

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

IMAGES, GLOBAL_BATCH = 200, 64


def _model(strategy, steps_per_execution: int = 1):
    import keras

    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=steps_per_execution)
    return model


def _fit(model, x, y, epochs: int = 1) -> list[int]:
    import keras

    steps: list[int] = []

    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] = batch + 1

    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[Count()])
    return steps


def probe(out: Path) -> dict:
    from cnnstudio.core.training.workers import multiworker_strategy, worker_cluster

    strategy = multiworker_strategy()  # first: before any other TensorFlow operation
    import numpy as np
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    cluster = worker_cluster()
    x = np.arange(IMAGES, dtype="float32")[:, None].repeat(4, axis=1)  # image i is all i
    y = (np.arange(IMAGES) % 2).astype("int32")
    shipped = tf.distribute.MultiWorkerMirroredStrategy.reduce
    mended = type(strategy).reduce
    figures: dict = {"index": cluster.index, "replicas": strategy.num_replicas_in_sync,
                     "strategy": type(strategy).__name__}

    strategy.reduce = lambda op, value, axis=None: shipped(strategy, op, value, axis)
    figures["plain_error"] = attempt(lambda: _fit(_model(strategy), x, y))

    def batch_only(op, value, axis=None):
        if isinstance(value, (tuple, list, dict)):
            return mended(strategy, op, value, axis)
        return shipped(strategy, op, value, axis)

    strategy.reduce = batch_only
    figures["scalar_error"] = attempt(lambda: _fit(_model(strategy), x, y))
    del strategy.reduce  # the mended class's own reduce again

    adapter = ArrayDataAdapter(x, y, batch_size=GLOBAL_BATCH, shuffle=False)
    shards = []
    for batch in strategy.experimental_distribute_dataset(adapter.get_tf_dataset()):
        local = strategy.experimental_local_results(batch[0])
        shards.append([int(value) for part in local for value in part.numpy()[:, 0]])
    figures["shards"] = shards
    model = _model(strategy)
    figures["steps"] = attempt(lambda: _fit(model, x, y, epochs=2))
    figures["evaluate"] = [float(v) for v in model.evaluate(x, y, verbose=0, batch_size=GLOBAL_BATCH)]
    figures["steps_per_execution_4"] = attempt(lambda: _fit(_model(strategy, 4), x, y) and "ok")

    def chief_only_save() -> str:
        if cluster.chief:
            model.save(out / "chief.keras")
        _fit(model, x, y)  # both again: a save with collectives would have left the other worker waiting
        return "ok"

    figures["chief_only_save"] = attempt(chief_only_save)
    return figures


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    index = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", "x")
    try:
        figures = probe(out)
    except Exception as exc:  # noqa: BLE001 - the evidence goes to the test, which fails with it
        figures = {"error": evidence(exc), "traceback": traceback.format_exc()}
    (out / f"worker-{index}.json").write_text(json.dumps(figures, indent=1))
    return 1 if "error" in figures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv))
