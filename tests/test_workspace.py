"""The Qt-free workspace and dataset cache: events, file state, evaluation cache, per-dataset locks."""

from __future__ import annotations

import gc
import threading

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.dataset_cache import DatasetCache
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.workspace import Workspace


class FakeModel:
    """Stands in for a Keras model: the workspace only needs identity and weak references."""


def record(dataset: str = "digits") -> ModelRecord:
    return ModelRecord(Experiment(ModelOptions(pooling="min"), TrainOptions(epochs=1), dataset),
                       [str(i) for i in range(10)], (28, 28, 1))


def test_events_and_file_state_follow_the_model() -> None:
    workspace = Workspace(DatasetCache(loader=lambda name, progress: None))
    changes, files = [], []
    workspace.model_changed.connect(lambda w: changes.append(w.model))
    workspace.file_changed.connect(files.append)
    model = FakeModel()
    workspace.set_model(model, record(), unsaved=True)
    assert changes == [model] and files[-1].display_name == "untitled model" and files[-1].unsaved
    assert workspace.needs_saving
    workspace.mark_saved("/tmp/run.keras")
    assert files[-1].display_name == "run.keras" and not files[-1].unsaved and not workspace.needs_saving
    workspace.clear()
    assert changes[-1] is None and files[-1].display_name == "new experiment"


def test_a_model_kept_by_the_run_history_needs_no_saving_until_its_run_is_deleted() -> None:
    workspace = Workspace(DatasetCache(loader=lambda name, progress: None))
    files = []
    workspace.file_changed.connect(files.append)
    workspace.set_model(FakeModel(), record(), run_id="20261127-053113-9bfff8")
    assert not workspace.needs_saving and workspace.path is None
    assert files[-1].display_name == "run 2026-11-27 05:31:13 (Runs tab)"
    workspace.forget_runs(["20261127-000000-aaaaaa"])  # another run: nothing changes
    assert not workspace.needs_saving and len(files) == 1
    workspace.forget_runs(["20261127-053113-9bfff8"])
    assert workspace.needs_saving and files[-1].display_name == "untitled model" and files[-1].unsaved
    workspace.set_model(FakeModel(), record(), run_id="odd id")
    assert files[-1].display_name == "run odd id (Runs tab)"
    workspace.mark_saved("/tmp/kept.keras")  # saved to a file of its own: deleting the run no longer matters
    workspace.forget_runs(["odd id"])
    assert not workspace.needs_saving and files[-1].display_name == "kept.keras"


def test_continue_keeps_the_models_network_and_dataset_with_new_training_options() -> None:
    workspace = Workspace()
    panel = Experiment(ModelOptions(pooling="max"), TrainOptions(epochs=7, optimizer="sgd"), "mnist")
    assert workspace.continued_experiment(panel) == panel
    workspace.set_model(FakeModel(), record("digits"))
    merged = workspace.continued_experiment(panel)
    assert merged.model.pooling == "min" and merged.dataset == "digits"
    assert merged.train.epochs == 7 and merged.train.optimizer == "sgd"
    assert workspace.inspected_dataset("mnist") == "digits"


def test_evaluation_cache_is_per_model_version_and_forgets_dead_models() -> None:
    workspace = Workspace()
    model = FakeModel()
    workspace.set_model(model, record())
    version = workspace.version
    workspace.store_evaluation(model, version, "digits", "result")
    assert workspace.evaluation("digits") == "result" and workspace.evaluation("mnist") is None
    workspace.set_model(model, record())  # the same object trained further: a new version
    assert workspace.evaluation("digits") is None
    workspace.store_evaluation(model, version, "digits", "stale")  # computed before the change: ignored
    assert workspace.evaluation("digits") is None
    other = FakeModel()
    workspace.set_model(other, record())  # a new object (may reuse the old id): never the old result
    assert workspace.evaluation("digits") is None
    del model
    gc.collect()
    assert len(workspace._evaluations) == 0


def test_opening_a_model_teaches_the_cache_its_datasets_shape() -> None:
    workspace = Workspace(DatasetCache(loader=lambda name, progress: None))
    assert workspace.datasets.shape("/data/letters") is None
    rec = record("/data/letters")
    workspace.set_model(FakeModel(), rec)
    assert workspace.datasets.shape("/data/letters") == ((28, 28, 1), 10)


def test_dataset_cache_loads_once_and_a_slow_set_never_blocks_another(digits) -> None:
    release, started, calls = threading.Event(), threading.Event(), []

    def loader(name, progress=None):
        calls.append(name)
        if name == "slow":
            started.set()
            assert release.wait(60)
        return digits

    cache = DatasetCache(loader=loader, keep=2)
    slow = threading.Thread(target=cache.get, args=("slow",))
    slow.start()
    assert started.wait(60)
    assert cache.get("fast") is digits  # returns while "slow" is still loading
    assert cache.get("fast") is digits and calls.count("fast") == 1
    release.set()
    slow.join(60)
    assert cache.cached("slow") is digits and cache.shape("slow") == ((28, 28, 1), 10)
    cache.get("third")
    assert cache.cached("fast") is None  # the least recently used one made room


def test_two_threads_asking_for_the_same_set_load_it_once(digits) -> None:
    calls, gate = [], threading.Barrier(2)

    def loader(name, progress=None):
        calls.append(name)
        return digits

    cache = DatasetCache(loader=loader)
    threads = [threading.Thread(target=lambda: (gate.wait(), cache.get("digits"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert calls == ["digits"]
