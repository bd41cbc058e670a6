"""Few-shot graph classification on TU-derived data: N-way K-shot accuracy over unseen classes.

Protocol (GSM, Chauhan et al. ICLR 2020, and the papers that followed it): the classes of a dataset are split
into training and test classes -- GSM's own splits for TRIANGLES (7 | 3), Letter-high (11 | 4) and ENZYMES
(4 | 2), a seeded split of class ids for COIL-DEL (80 | 20, ``class_split_seed``, recorded in the result).
A test episode draws N of the test classes (N = all test classes for the GSM sets, 5 for COIL-DEL), K in
{5, 10} support graphs and 15 query graphs per class; the score of a seed is the accuracy over
``test_episodes`` (>= 400, default 500) episodes, reported with its 95% confidence interval
(:func:`graphmeta.metrics.mean_ci95`), and the summary is the mean and standard deviation over seeds.

Model selection never sees a test class. The graphs of every **training** class are split (seeded, per class,
``holdout_fraction``, default 20%; 40% for COIL-DEL's 39 graphs per class) into meta-training graphs and
held-out graphs: meta-training episodes come from the meta-training graphs only, and the checkpoint is chosen by
the accuracy on fixed N-way episodes of the training classes built from the held-out graphs only (N = the test
N). GSM's released code instead cuts an unshuffled validation slice and never trains on part of the training
classes; we do not copy that. Where a class has too few graphs for K + 15, the meta-training and validation
queries are capped at what the class has left (recorded under ``episodes``; e.g. ENZYMES 10-shot validates on
10 queries per class). Test episodes are drawn after training.

Inputs: the GIN-format node tag of TRIANGLES and Letter-high is the node degree (featureless graphs), so they get
a degree embedding; ENZYMES keeps its categorical node tag; COIL-DEL gets a degree embedding and its edge
labels (its node attributes, unnormalized image coordinates of corner points, are not used). Vocabulary sizes
come from the node features of all graphs (no labels involved).

Meta-overfitting report: during training, accuracy on fresh episodes of the training classes (meta-training
graphs) and on test-class episodes (a separate stream, never the final test episodes) is logged every
evaluation; both are report only, never used for selection or stopping (``monitor_test=False`` drops the
test-class curve and leaves selection and results unchanged). After training, the selected model is scored on
the fresh training-class episodes beside the test score: ``gap = train - test``.

Per seed, everything random follows the seed: held-out graphs, initial weights, episodes. All methods see the
same test episodes for a given seed. Fingerprint baselines (rf, knn) need molecules and the ``finetune`` learner
a binary multitask head: both are refused.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphmeta.benchmarks.common import mean_std
from graphmeta.benchmarks.methods import BASELINE_METHODS, META_METHODS, method_overrides
from graphmeta.benchmarks.published import TU_PUBLISHED, TU_SOURCE
from graphmeta.data.episodes import Episode, NWayKShotSampler, episode_rng
from graphmeta.data.splits import TaskSplit, predefined_split
from graphmeta.data.tasks import TaskCollection
from graphmeta.evaluate import evaluate_episodes
from graphmeta.metrics import mean_ci95
from graphmeta.train import MetaTrainer, TrainConfig, sample_class_episodes

__all__ = ["TUSpec", "TU_BENCHMARKS", "TUSettings", "run_tu", "check_tu_method", "tu_class_split", "holdout_graphs",
           "encoder_inputs", "summarize_tu_seeds"]


@dataclass(frozen=True)
class TUSpec:
    """One TU benchmark: which collection, how its classes are split, episode width, held-out fraction."""

    dataset: str  # name for :func:`graphmeta.data.api.load_dataset`
    n_way: int | None = None  # None: all test classes
    holdout_fraction: float = 0.2  # of each training class's graphs, kept for model selection
    test_classes: int | None = None  # seeded class split with this many test classes; None: the predefined split


#: Benchmark name -> spec (the CLI's names).
TU_BENCHMARKS: dict[str, TUSpec] = {
    "triangles": TUSpec("TRIANGLES-fewshot"),
    "letter-high": TUSpec("Letter-high-fewshot"),
    "enzymes": TUSpec("ENZYMES-fewshot"),
    "coil-del": TUSpec("COIL-DEL", n_way=5, holdout_fraction=0.4, test_classes=20),
}

#: Episode streams (``sample_class_episodes(..., stream=...)``) of one seed; all distinct.
_TEST, _VALID, _TRAIN_MONITOR, _TEST_MONITOR = 0, 1, 2, 3
#: Stream tag of the held-out graph split (``episode_rng(seed, _HOLDOUT_STREAM, class)``).
_HOLDOUT_STREAM = 7


@dataclass
class TUSettings:
    """One run of the protocol. Defaults are the full protocol; :meth:`quick` is a seconds-long smoke version."""

    shots: int = 5
    seeds: tuple[int, ...] = tuple(range(5))
    test_episodes: int = 500
    n_query: int = 15  # per class; meta-training and validation queries are capped by the graphs a class has
    steps: int = 2000
    eval_every: int = 100
    meta_batch_size: int = 8
    val_episodes: int = 200  # fixed held-out-graph episodes of the training classes (selection)
    monitor_episodes: int = 100  # fresh training-class (and test-class monitor) episodes
    monitor_test: bool = True  # log test-class accuracy during training (report only)
    holdout_fraction: float | None = None  # None: the benchmark's default (TUSpec)
    class_split_seed: int = 0  # seeded class splits (COIL-DEL); the same for every run seed
    patience: int | None = None
    hidden_channels: int = 128
    num_layers: int = 5
    eval_batch: int = 16  # test episodes per forward pass (episodes never mix: per-task norms and weights)
    precision: str = "fp32"  # meta-step precision ("bf16": autocast; evaluation stays fp32)

    @classmethod
    def quick(cls, shots: int = 5) -> "TUSettings":
        """Tiny model and few steps on the real data: a test that the whole protocol runs, not a result."""
        return cls(shots=shots, seeds=(0, 1), test_episodes=8, steps=4, eval_every=2, meta_batch_size=2,
                   val_episodes=3, monitor_episodes=3, hidden_channels=16, num_layers=2)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        return out


def tu_class_split(collection: TaskCollection, spec: TUSpec, seed: int = 0) -> TaskSplit:
    """The class split of a TU benchmark: GSM's predefined one, or ``spec.test_classes`` class ids drawn with
    ``seed`` as test classes (the rest train); never a validation class (selection uses held-out graphs)."""
    if spec.test_classes is None:
        split = predefined_split(collection)
        return TaskSplit(train=split.train, test=split.test, unit="classes",
                         description=f"GSM class split of {collection.name}")
    classes = np.unique(collection.labels.task(0)[1].numpy()).astype(int)
    if not 0 < spec.test_classes < len(classes):
        raise ValueError(f"cannot hold out {spec.test_classes} of the {len(classes)} classes of {collection.name}")
    test = set(np.random.default_rng(seed).choice(classes, spec.test_classes, replace=False).tolist())
    return TaskSplit(train=tuple(c for c in classes if c not in test), test=tuple(sorted(test)), unit="classes",
                     description=f"seeded class split of {collection.name}: {spec.test_classes} of {len(classes)} "
                                 f"classes test (seed {seed})")


def holdout_graphs(collection: TaskCollection, classes: Sequence[int], fraction: float,
                   seed: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(meta_training, held_out)`` graph ids of ``classes``: per class, a seeded ``fraction`` is held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {fraction}")
    graphs, values = (t.numpy() for t in collection.labels.task(0))
    train, held = [], []
    for c in classes:
        members = episode_rng(seed, _HOLDOUT_STREAM, int(c)).permutation(graphs[values == c])
        n_held = int(round(fraction * len(members)))
        held.extend(members[:n_held].tolist())
        train.extend(members[n_held:].tolist())
    return tuple(sorted(train)), tuple(sorted(held))


def encoder_inputs(collection: TaskCollection) -> dict[str, Any]:
    """``GraphEncoder`` input settings for a TU collection (``TrainConfig.encoder_options``, JSON-safe).

    A categorical node tag that equals the node degree (GIN text format of featureless graphs) becomes a degree
    embedding; another categorical tag is embedded as is; graphs without a tag get a degree embedding; edge
    labels are embedded (GIN layers); continuous node attributes are not used.
    """
    store = collection.graphs
    edge_graph = torch.repeat_interleave(torch.arange(len(store)), store.edge_ptr.diff())
    dst = store.edge_index[1] + store.node_ptr[edge_graph]
    deg = torch.bincount(dst, minlength=int(store.node_ptr[-1]))
    degree_vocab = int(deg.max()) + 1
    x = store.node_fields.get("x")
    edge_attr = store.edge_fields.get("edge_attr")
    out: dict[str, Any] = {"atom_vocab": None, "bond_vocab": None, "degree_vocab": 0}
    if x is None or (x.shape[1] == 1 and torch.equal(x[:, 0].long(), deg)):
        out["degree_vocab"] = degree_vocab
    else:
        out["atom_vocab"] = [int(v) + 1 for v in x.long().max(0).values]
    if edge_attr is not None and not edge_attr.is_floating_point():
        out["bond_vocab"] = [int(v) + 1 for v in edge_attr.max(0).values]
    return out


def _min_class_size(collection: TaskCollection, classes: Sequence[int], graph_ids: Sequence[int] | None) -> int:
    graphs, values = (t.numpy() for t in collection.labels.task(0))
    if graph_ids is not None:
        keep = np.isin(graphs, np.asarray(graph_ids))
        values = values[keep]
    return min(int((values == c).sum()) for c in classes)


def _query_size(collection: TaskCollection, classes: Sequence[int], graph_ids: Sequence[int] | None, shots: int,
                n_query: int, what: str) -> int:
    """``n_query``, capped so that every class of ``classes`` (within ``graph_ids``) has K + queries graphs."""
    left = _min_class_size(collection, classes, graph_ids) - shots
    if left < 1:
        raise ValueError(f"{collection.name}: {what} leave(s) {left + shots} graphs in the smallest class, too few "
                         f"for a {shots}-shot support plus a query; lower holdout_fraction or shots")
    return min(n_query, left)


def _accuracies(trainer: MetaTrainer, collection: TaskCollection, episodes: list[Episode],
                batch: int) -> list[float]:
    return [r.metric for r in evaluate_episodes(trainer.learner, collection, episodes, "accuracy", batch)]


def _run_seed(collection: TaskCollection, split: TaskSplit, spec: TUSpec, method: str, settings: TUSettings,
              n_way: int, encoder: dict[str, Any], seed: int, progress: bool) -> dict[str, Any]:
    k = settings.shots
    fraction = settings.holdout_fraction if settings.holdout_fraction is not None else spec.holdout_fraction
    meta_graphs, held_graphs = holdout_graphs(collection, split.train, fraction, seed)
    train_query = _query_size(collection, split.train, meta_graphs, k, settings.n_query, "the meta-training graphs")
    val_query = _query_size(collection, split.train, held_graphs, k, settings.n_query, "the held-out graphs")
    train_sampler = NWayKShotSampler(n_way, k, train_query, graph_ids=meta_graphs)
    val_episodes = sample_class_episodes(collection, split.train, NWayKShotSampler(n_way, k, val_query, held_graphs),
                                         settings.val_episodes, seed, _VALID)
    monitor = {"train": sample_class_episodes(collection, split.train, train_sampler, settings.monitor_episodes,
                                              seed, _TRAIN_MONITOR)}
    if settings.monitor_test:
        monitor["test"] = sample_class_episodes(collection, split.test, NWayKShotSampler(n_way, k, settings.n_query),
                                                settings.monitor_episodes, seed, _TEST_MONITOR)
    config = TrainConfig(**{**dict(steps=settings.steps, eval_every=min(settings.eval_every, settings.steps),
                                   meta_batch_size=settings.meta_batch_size, k_shot=k, n_query=train_query,
                                   n_way=n_way, val_metric="accuracy", patience=settings.patience, seed=seed,
                                   hidden_channels=settings.hidden_channels, num_layers=settings.num_layers,
                                   encoder_options=dict(encoder), precision=settings.precision),
                            **method_overrides(method)})
    trainer = MetaTrainer(collection, TaskSplit(train=split.train, test=split.test, unit="classes"), config,
                          progress=progress, monitor=monitor, train_sampler=train_sampler, val_episodes=val_episodes)
    result = trainer.fit()
    trainer.load_best()
    test_episodes = sample_class_episodes(collection, split.test, NWayKShotSampler(n_way, k, settings.n_query),
                                          settings.test_episodes, seed, _TEST)
    test = _accuracies(trainer, collection, test_episodes, settings.eval_batch)
    train = _accuracies(trainer, collection, monitor["train"], settings.eval_batch)
    test_mean, test_ci = mean_ci95(test)
    train_mean = statistics.fmean(train)
    return {"test_accuracy": test_mean, "test_ci95": test_ci, "n_test_episodes": len(test),
            "train_accuracy": train_mean, "gap": train_mean - test_mean, "best_step": result.best_step,
            "best_valid_accuracy": result.best_metric, "stopped_early": result.stopped_early,
            "history": result.history,
            "holdout": {"fraction": fraction, "meta_training_graphs": len(meta_graphs),
                        "held_out_graphs": len(held_graphs)},
            "episodes": {"train_query": train_query, "valid_query": val_query, "test_query": settings.n_query}}


def check_tu_method(method: str) -> None:
    """Raises a clear error for a method the TU protocol cannot run (fingerprint baselines, ``finetune``)."""
    if method in BASELINE_METHODS:
        raise ValueError(f"the {method!r} baseline fits ECFP4 fingerprints of molecules; TU graphs are not molecules "
                         f"(use a meta-learner: {', '.join(m for m in META_METHODS if m != 'finetune')})")
    if method == "finetune":
        raise ValueError("the finetune learner's multitask head scores binary tasks; it does not apply to N-way "
                         "class episodes")
    if method not in META_METHODS:
        raise KeyError(f"unknown method {method!r}; known: {sorted(META_METHODS)}")


def run_tu(collection: TaskCollection, benchmark: str, method: str, settings: TUSettings, progress: bool = True,
           on_seed: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Runs the protocol for one method on ``collection``, the data of ``benchmark`` (a :data:`TU_BENCHMARKS` key).

    Returns a JSON-safe dict: settings, class split, inputs, per-seed results (test accuracy with its 95% CI,
    training-class accuracy and gap, chosen step, learning curves with the train/test monitors, seconds) and
    the summary over seeds beside the published numbers. ``on_seed(seed, result)`` is called after each seed.
    """
    if benchmark not in TU_BENCHMARKS:
        raise KeyError(f"no TU protocol {benchmark!r}; known: {sorted(TU_BENCHMARKS)}")
    check_tu_method(method)
    spec = TU_BENCHMARKS[benchmark]
    if collection.name.lower() != spec.dataset.lower():
        raise ValueError(f"{benchmark} runs on {spec.dataset}, got {collection.name}")
    if settings.shots < 1 or settings.test_episodes < 2:
        raise ValueError("need shots >= 1 and test_episodes >= 2 (a confidence interval needs a spread)")
    split = tu_class_split(collection, spec, settings.class_split_seed)
    n_way = spec.n_way or len(split.test)
    encoder = encoder_inputs(collection)
    seeds = []
    for seed in tqdm(settings.seeds, desc=f"{benchmark} {n_way}-way {settings.shots}-shot {method}", unit="seed",
                     disable=not progress):
        start = time.perf_counter()
        out = {"seed": seed, **_run_seed(collection, split, spec, method, settings, n_way, encoder, seed, progress)}
        out["seconds"] = time.perf_counter() - start
        seeds.append(out)
        if on_seed is not None:
            on_seed(seed, out)
    return {"dataset": benchmark, "collection": collection.name, "method": method, "shots": settings.shots,
            "n_way": n_way, "settings": settings.to_dict(),
            "split": {"train": list(split.train), "test": list(split.test), "description": split.description,
                      "class_split_seed": settings.class_split_seed if spec.test_classes is not None else None},
            "inputs": encoder, "seeds": seeds, "summary": summarize_tu_seeds(seeds),
            "published": TU_PUBLISHED.get(benchmark, {}).get(settings.shots, {}), "published_source": TU_SOURCE}


def summarize_tu_seeds(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds (x 100) of test accuracy, training-class accuracy and their gap,
    and the mean per-seed 95% CI half-width."""
    test = [s["test_accuracy"] for s in seeds]
    train = [s["train_accuracy"] for s in seeds]
    return {"n_seeds": len(seeds), "test_accuracy": mean_std(test, 100), "train_accuracy": mean_std(train, 100),
            "gap": mean_std([a - b for a, b in zip(train, test)], 100),
            "test_ci95_mean": 100 * statistics.fmean(s["test_ci95"] for s in seeds)}
