"""The meta-trainer: outer AdamW over task-batched meta-steps, validation-task model selection, resumable runs.

Model selection and early stopping look at **validation tasks only** (carved out of the training tasks),
never at test tasks. Binary tasks train on K-shot episodes of one task each; with ``TrainConfig.n_way`` the
trainer meta-trains N-way episodes over the classes of a class split (TU graph classification), and a caller
may pass its own ``train_sampler`` and fixed ``val_episodes`` (e.g. held-out graphs of the training classes).

Every run writes the config it used (``config.json``), a metrics log (``metrics.csv`` and ``history.json``)
and two checkpoints, ``last.pt`` and ``best.pt``, atomically. Episodes of step ``s`` come from
``episode_rng(seed, s)``, so ``resume=True`` continues exactly where the last checkpoint stopped: a resumed run
ends with the same weights as an uninterrupted one (a resume is refused when the config, the training sampler
or the validation episodes differ).

Under ``torchrun`` (a process group from :func:`graphmeta.distributed.init_distributed`) each rank meta-trains on
its contiguous slice of every step's meta-batch and the meta-gradients are all-reduced to the single-process one
(:mod:`graphmeta.distributed`); validation episodes are split across ranks too. Rank 0 alone writes config,
logs and checkpoints, and a resume loads ``last.pt`` on rank 0 and sends its state to the others.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphmeta import __version__
from graphmeta.checkpoint import load_checkpoint, save_checkpoint
from graphmeta.data.episodes import (Episode, EpisodeSampler, KShotSampler, MetaBatch, NWayKShotSampler,
                                     StratifiedSupportSampler, collate_episodes, episode_rng, sample_meta_batch)
from graphmeta.data.featurize import featurizer_version
from graphmeta.data.splits import TaskSplit
from graphmeta.data.tasks import TaskCollection
from graphmeta.distributed import (all_gather_lists, all_reduce_meta_gradient, broadcast_buffers, broadcast_object,
                                   context, shard_bounds)
from graphmeta.evaluate import EVAL_STREAM, evaluate_episodes, sample_eval_episodes
from graphmeta.meta.base import MetaLearner
from graphmeta.meta.maml import MAML
from graphmeta.meta.registry import build_learner
from graphmeta.nn.backbone import FewShotModel, GraphEncoder
from graphmeta.numerics import DivergenceError, check_meta_step, checked_grad_norm
from graphmeta.pretrain import load_pretrained_encoder
from graphmeta.runtime import PRECISIONS, deterministic, resolve_precision, retain_freed_memory
from graphmeta.schedules import LR_SCHEDULES, lr_multiplier

__all__ = ["PRECISIONS", "VAL_METRICS", "TrainConfig", "MetaTrainer", "TrainResult", "build_model",
           "build_meta_learner", "sample_class_episodes", "training_graph_ids"]


# Meta-step precisions (PRECISIONS): "bf16" runs the meta-step under torch.autocast with bfloat16 (matmuls in bf16,
# meta-weights, their gradients and the optimizer in float32); validation always runs in float32. "auto": bf16 where
# this CPU computes it natively, else fp32 (graphmeta.runtime.resolve_precision; an explicit "bf16" without native
# support warns and runs in fp32). MetaTrainer.precision is the one that runs.


def _meta_step_precision(config: "TrainConfig", learner: MetaLearner) -> str:
    """The meta-step precision that runs. An inner-loop learner (MAML family, Reptile) on a ``norm="task"``
    backbone stays in fp32 under ``"auto"`` and warns under ``"bf16"``: its meta-gradient subtracts nearly equal
    terms (the query's path and the support-statistics path) and in bf16 kept a cosine of only 0.6-0.9 with the
    fp32 one (Tox21, 32-64 wide GIN), against 0.997+ with layer norm or for ProtoNet."""
    precision = resolve_precision(config.precision, torch.device("cpu"))
    if precision == "fp32" or config.norm != "task" or not isinstance(learner, MAML):
        return precision
    if config.precision == "bf16":
        warnings.warn(f"precision='bf16' with norm='task' and the {config.learner!r} learner: its bf16 meta-gradient "
                      f"is imprecise (cosine 0.6-0.9 with fp32); running in fp32 (use norm='layer' for bf16)",
                      RuntimeWarning, stacklevel=3)
    return "fp32"

#: Metrics model selection can use (higher is better for all); N-way episodes use ``"accuracy"``.
VAL_METRICS = ("roc_auc", "delta_auprc", "accuracy")


@dataclass
class TrainConfig:
    """Everything that defines a meta-training run (JSON-safe; saved with every run and checkpoint)."""

    learner: str = "protonet"
    steps: int = 500
    meta_batch_size: int = 8
    outer_lr: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": outer_lr decays to 0 at `steps` (graphmeta.schedules)
    warmup_steps: int = 0  # linear warmup of outer_lr over the first steps
    weight_decay: float = 0.0
    grad_clip: float | None = 10.0
    inner_lr: float | None = None  # MAML family / Reptile: inner step size (learner default if None)
    inner_steps: int | None = None
    k_shot: int = 10  # binary: K positives + K negatives; N-way: K graphs per class
    n_query: int = 16  # binary: query graphs per episode; N-way: query graphs per class
    n_way: int | None = None  # N-way episodes over the classes of a class split (multiclass data); None: binary tasks
    eval_every: int = 50
    checkpoint_every: int | None = None  # also write last.pt every N steps (crash recovery between evaluations)
    val_draws: int = 3
    val_query: int | None = 256  # cap on validation query size (stratified); None = all remaining graphs
    val_metric: str = "roc_auc"  # or "delta_auprc" (FS-Mol), "accuracy" (N-way): selects the checkpoint
    val_support_size: int | None = None  # stratified validation supports of this size (FS-Mol); None: k_shot + k_shot
    patience: int | None = None  # early stopping after this many evaluations without improvement
    seed: int = 0
    conv: str = "gin"
    hidden_channels: int = 128
    num_layers: int = 5
    norm: str = "task"
    readout: str = "mean"
    heads: int = 4  # GAT attention heads (must divide hidden_channels)
    learner_options: dict[str, Any] = field(default_factory=dict)
    encoder_options: dict[str, Any] = field(default_factory=dict)  # GraphEncoder overrides, e.g. TU node inputs
    precision: str = "fp32"  # "bf16"/"auto": meta-steps under bf16 autocast (fp32 meta-weights); evaluation stays fp32
    pretrained_encoder: str | None = None  # encoder.pt of `graphmeta pretrain`: the backbone starts from it

    def __post_init__(self) -> None:
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be positive (or None), got {self.checkpoint_every}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive (or None: no clipping), got {self.grad_clip}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.val_metric not in VAL_METRICS:
            raise ValueError(f"val_metric must be one of {VAL_METRICS}, got {self.val_metric!r}")
        if self.n_way is not None:
            if self.n_way < 2:
                raise ValueError(f"n_way must be at least 2 (or None for binary tasks), got {self.n_way}")
            if self.val_metric != "accuracy":
                raise ValueError(f"N-way episodes are scored by val_metric='accuracy', got {self.val_metric!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What :meth:`MetaTrainer.fit` returns."""

    best_step: int
    best_metric: float
    steps_done: int
    history: list[dict[str, Any]]
    stopped_early: bool


def build_model(config: TrainConfig, n_way: int = 2, **encoder_overrides: Any) -> FewShotModel:
    """The backbone + head described by ``config`` (``encoder_overrides``: e.g. TU input settings)."""
    encoder = GraphEncoder(conv=config.conv, hidden_channels=config.hidden_channels, num_layers=config.num_layers,
                           norm=config.norm, readout=config.readout, heads=config.heads, **encoder_overrides)  # type: ignore[arg-type]
    return FewShotModel(encoder, n_way=n_way)


def build_meta_learner(config: TrainConfig, n_way: int = 2, n_tasks: int | None = None) -> MetaLearner:
    """The (freshly initialized) meta-learner of ``config``: model, learner and its options.

    ``n_tasks`` sizes the multitask head of the ``finetune`` learner (the collection's number of tasks).
    """
    options = dict(config.learner_options)
    if config.learner == "finetune" and n_tasks is not None:  # one multitask output per task of the collection
        options.setdefault("n_tasks", n_tasks)
    model = build_model(config, n_way, **config.encoder_options)
    return build_learner(config.learner, model, inner_lr=config.inner_lr, inner_steps=config.inner_steps, **options)


#: Config fields a resumed run may change (extending a run, changing its patience or checkpoint interval).
_RESUMABLE_CHANGES = ("steps", "patience", "checkpoint_every")


def _resumable(config: dict[str, Any]) -> dict[str, Any]:
    """The fields a resume must match; fields a checkpoint predates count with their default."""
    return {k: v for k, v in {**TrainConfig().to_dict(), **config}.items() if k not in _RESUMABLE_CHANGES}


def training_graph_ids(collection: TaskCollection, split: TaskSplit) -> torch.Tensor:
    """Ids (sorted) of the graphs a run may learn input statistics from: those labelled in a training task of a
    task split (validation and test tasks' molecules are left out unless a training task labels them too), every
    graph for a class split. Used to fit the descriptor scaler, which reads no label values."""
    if split.unit != "tasks":
        return torch.arange(collection.n_graphs)
    ids = torch.cat([collection.labels.task(int(t))[0] for t in split.train])
    return torch.unique(ids)


def sample_class_episodes(collection: TaskCollection, classes: Sequence[int], sampler: EpisodeSampler,
                          n_episodes: int, seed: int, stream: int = 0) -> list[Episode]:
    """``n_episodes`` fixed N-way episodes over the class set ``classes`` (the same for the same ``seed`` and
    ``stream``); drawn from the evaluation stream ``episode_rng(seed, EVAL_STREAM, stream, i)``, so they never
    coincide with meta-training episodes, and different ``stream`` ids give independent episode sets."""
    return [sampler.sample(collection, [int(c) for c in classes], episode_rng(seed, EVAL_STREAM, stream, i))
            for i in range(n_episodes)]


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def _episodes_record(sampler: EpisodeSampler, val_episodes: Sequence[Episode]) -> dict[str, Any]:
    """JSON-safe description of the training sampler and a digest of the validation episodes (a resume must
    see the same ones); a sampler's graph subset is recorded by size and digest."""
    fields = asdict(sampler) if is_dataclass(sampler) else {}  # type: ignore[call-overload]
    ids = fields.pop("graph_ids", None)
    out: dict[str, Any] = {"train_sampler": type(sampler).__name__, **fields}
    if ids is not None:
        out["train_graph_ids"] = {"n": len(ids), "sha256": _digest(tuple(ids))}
    out["val_episodes"] = {"n": len(val_episodes), "sha256": _digest(
        [(e.task, e.classes, e.support.tolist(), e.query.tolist()) for e in val_episodes])}
    return out


class MetaTrainer:
    """Meta-trains one learner on the training tasks of a split, selecting on its validation tasks.

    Example:
        >>> from graphmeta import load_dataset
        >>> from graphmeta.data.splits import training_split
        >>> from graphmeta.model_files import export_model
        >>> from graphmeta.train import MetaTrainer, TrainConfig
        >>> tox21 = load_dataset("tox21")
        >>> split, _, _ = training_split(tox21, shots=10, valid=[8])  # Tox21 tasks 0-7, task 8 selects
        >>> trainer = MetaTrainer(tox21, split, TrainConfig(learner="protonet", steps=500, k_shot=10, norm="layer"),
        ...                       out_dir="runs/tox21-protonet")
        >>> result = trainer.fit()  # resumable: fit(resume=True) continues from runs/tox21-protonet/last.pt
        >>> trainer.load_best()
        >>> export_model(trainer, "runs/tox21-protonet/model.pt")  # FewShotClassifier(model=...) reads it

    Without validation tasks (``split.valid`` empty) nothing is selected: the run trains for ``config.steps``
    and its last weights are its "best" -- what a retraining with a step count chosen beforehand (e.g. by
    leave-tasks-out cross-validation, :mod:`graphmeta.benchmarks`) needs.

    A backbone that reads RDKit descriptors (``encoder_options={"descriptor_channels": ...}``) gets its descriptor
    scaler fitted here, on the molecules labelled in the training tasks (:func:`training_graph_ids`); the fit is
    unsupervised (descriptor values only, no label), and the statistics are saved with the weights.

    In a process group (``torchrun``) every rank builds the same trainer; see the module docstring. A rank's
    ``out_dir`` may be a folder only rank 0 sees: the other ranks write nothing.

    With ``config.n_way`` the collection is multiclass and ``split`` a class split (``unit="classes"``): every
    meta-training episode draws ``n_way`` of the training classes (``k_shot`` + ``n_query`` graphs each), the
    model has ``n_way`` outputs and selection uses accuracy. Validation episodes come from ``split.valid``
    classes (``val_draws`` episodes over that class set, ``n_query`` queries per class; ``val_query`` caps binary
    queries only) unless ``val_episodes`` are given.

    Args:
        collection: the task collection (binary tasks; multiclass with ``config.n_way``).
        split: task (or class) split with a non-empty ``train`` part (``test`` is never looked at).
        config: the run configuration.
        out_dir: folder for config, logs and checkpoints (``None``: keep everything in memory).
        progress: show a tqdm progress bar.
        monitor: named episode sets (e.g. fresh episodes of training tasks, test-task episodes for a
            meta-overfitting curve) scored at every evaluation and logged as ``<name>_<val_metric>``; they are
            reported only, never used for model selection or early stopping.
        deterministic: run :meth:`fit` with PyTorch's deterministic kernels (:func:`graphmeta.runtime.deterministic`):
            the same seed gives the same weights even when the machine is busy (~2% slower).
        retain_memory: call :func:`graphmeta.runtime.retain_freed_memory` (glibc keeps freed memory for the
            next meta-step instead of faulting fresh pages in; ~10% faster steps on CPU, the process keeps
            its peak memory). Process-wide; ``False`` leaves the allocator alone.
        train_sampler: draws the meta-training episodes of ``split.train`` instead of the sampler the config
            describes (e.g. an :class:`~graphmeta.data.episodes.NWayKShotSampler` restricted to a graph subset);
            it must give ``config.n_way`` (binary: 2) classes per episode.
        val_episodes: fixed validation episodes that select the checkpoint instead of episodes of
            ``split.valid`` (which must then be empty), e.g. episodes of held-out graphs of the training classes.
    """

    def __init__(self, collection: TaskCollection, split: TaskSplit, config: TrainConfig,
                 out_dir: str | os.PathLike | None = None, progress: bool = True,
                 monitor: dict[str, list[Episode]] | None = None, deterministic: bool = True, retain_memory: bool = True,
                 train_sampler: EpisodeSampler | None = None, val_episodes: list[Episode] | None = None) -> None:
        if not split.train:
            raise ValueError("meta-training needs training tasks")
        n_way = config.n_way or 2
        if config.n_way is None and collection.task_type != "binary":
            raise ValueError(f"MetaTrainer trains on binary tasks; {collection.name} has {collection.task_type} tasks "
                             f"(set TrainConfig.n_way for N-way episodes over classes)")
        if config.n_way is not None:
            if collection.task_type != "multiclass" or split.unit != "classes":
                raise ValueError(f"n_way={config.n_way} needs multiclass data and a class split; {collection.name} "
                                 f"has {collection.task_type} tasks and the split is over {split.unit}")
            if len(split.train) < config.n_way:
                raise ValueError(f"{config.n_way}-way episodes need at least {config.n_way} training classes, "
                                 f"the split has {len(split.train)}")
            if config.learner == "finetune":
                raise ValueError("the finetune learner's multitask head scores binary tasks; it cannot meta-train "
                                 "on N-way class episodes")
        self.dist = context()
        if config.meta_batch_size < self.dist.world_size:
            raise ValueError(f"meta_batch_size {config.meta_batch_size} is smaller than the {self.dist.world_size} "
                             f"processes sharing it; every rank needs at least one task")
        if train_sampler is not None and getattr(train_sampler, "n_way", 2) != n_way:
            raise ValueError(f"train_sampler gives {getattr(train_sampler, 'n_way', 2)}-way episodes, the config "
                             f"{n_way}-way ones")
        if val_episodes is not None:
            if split.valid:
                raise ValueError("pass either validation tasks/classes in split.valid or val_episodes, not both")
            if any(e.n_way != n_way for e in val_episodes):
                raise ValueError(f"val_episodes must all be {n_way}-way episodes")
        self.collection, self.split, self.config = collection, split, config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress and self.dist.is_main
        self.monitor = dict(monitor or {})
        self.deterministic = deterministic
        if retain_memory:
            retain_freed_memory()
        torch.manual_seed(config.seed)
        self.learner: MetaLearner = build_meta_learner(config, n_way, collection.n_tasks)
        fusion = self.learner.model.encoder.fingerprint
        graph_fields = getattr(collection.graphs, "graph_fields", {})
        if fusion is not None and fusion.fingerprint_channels and "fingerprint" not in graph_fields:
            bits = fusion.fingerprint_channels
            raise ValueError(f"the backbone reads fingerprints (fingerprint_channels={bits}) but {collection.name}'s "
                             f"graphs have none: load it with featurizer=MoleculeFeaturizer(fingerprint_bits={bits})")
        if fusion is not None and fusion.descriptor_channels:
            if "descriptors" not in graph_fields:
                raise ValueError(f"the backbone reads descriptors (descriptor_channels={fusion.descriptor_channels}) "
                                 f"but {collection.name}'s graphs have none: load it with "
                                 f"featurizer=MoleculeFeaturizer(descriptors=True)")
            ids = training_graph_ids(collection, split)
            self.learner.model.encoder.fit_descriptor_scaler(graph_fields["descriptors"][ids])
        if config.pretrained_encoder is not None:
            load_pretrained_encoder(config.pretrained_encoder, self.learner.model.encoder,
                                    featurizer=collection.featurizer)
        self.precision = _meta_step_precision(config, self.learner)  # what runs ("bf16" or "fp32")
        self.optimizer = torch.optim.AdamW(self.learner.parameters(), lr=config.outer_lr,
                                           weight_decay=config.weight_decay)
        self.train_sampler: EpisodeSampler = (
            train_sampler if train_sampler is not None
            else NWayKShotSampler(config.n_way, config.k_shot, config.n_query) if config.n_way
            else KShotSampler(config.k_shot, n_query=config.n_query, cap_query=True))
        if val_episodes is not None:
            self.val_episodes = list(val_episodes)
        elif config.n_way:  # N-way validation episodes over the validation classes, n_query queries per class
            self.val_episodes = (sample_class_episodes(
                collection, split.valid, NWayKShotSampler(config.n_way, config.k_shot, config.n_query),
                config.val_draws, config.seed) if split.valid else [])
        else:
            stratify = config.val_query is not None
            val_sampler: EpisodeSampler = (  # val_query caps the query: small tasks validate on what they have
                StratifiedSupportSampler(config.val_support_size, n_query=config.val_query, stratify_query=stratify,
                                         cap_query=True)
                if config.val_support_size
                else KShotSampler(config.k_shot, n_query=config.val_query, stratify_query=stratify, cap_query=True))
            self.val_episodes = sample_eval_episodes(collection, split.valid, val_sampler, config.val_draws,
                                                     config.seed)
        self.selects = bool(self.val_episodes)
        self._episodes_record = _episodes_record(self.train_sampler, self.val_episodes)  # fixed: digest once
        self.step = 0
        self.best_metric = -math.inf
        self.best_step = -1
        self.history: list[dict[str, Any]] = []
        self.bad_evals = 0
        self._losses: list[float] = []  # training losses since the last evaluation (checkpointed: exact resume)
        self._best_weights: dict[str, torch.Tensor] | None = None

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"learner": self.learner.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                "best_metric": self.best_metric, "best_step": self.best_step, "bad_evals": self.bad_evals,
                "history": json.dumps(self.history), "torch_rng": torch.get_rng_state(),
                "pending_losses": torch.tensor(self._losses, dtype=torch.float64)}

    def checkpoint_config(self) -> dict[str, Any]:
        """What a checkpoint records besides the weights: config, backbone, featurizer (and its version), task
        family, split, episodes and the graphmeta version."""
        return {"train": self.config.to_dict(), "encoder": self.learner.model.encoder.config,
                "n_way": self.learner.model.n_way, "n_tasks": self.collection.n_tasks,
                "collection": self.collection.name,
                "featurizer": self.collection.featurizer,
                "featurizer_version": featurizer_version(self.collection.featurizer),
                "task_family": {"task_type": self.collection.task_type, "n_way": self.learner.model.n_way,
                                "unit": self.split.unit},
                "split": {"train": list(self.split.train), "valid": list(self.split.valid), "unit": self.split.unit},
                "episodes": self._episodes_record, "graphmeta": __version__}

    def save(self, name: str) -> Path | None:
        if self.out_dir is None or not self.dist.is_main:
            return None
        return save_checkpoint(self.out_dir / f"{name}.pt", "meta-trainer", self.checkpoint_config(), self._state())

    def load(self, path: str | os.PathLike) -> None:
        """Restores weights, optimizer, step, history and best metric from a checkpoint of the same config."""
        blob = load_checkpoint(path, kind="meta-trainer")
        saved, current = _resumable(blob["config"]["train"]), _resumable(self.config.to_dict())
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
            raise ValueError(f"{path}: checkpoint was written with a different TrainConfig ({', '.join(changed)}); "
                             f"refusing to resume")
        saved_featurizer = blob["config"].get("featurizer")
        if saved_featurizer != self.collection.featurizer:
            raise ValueError(f"{path}: checkpoint was trained on graphs from featurizer {saved_featurizer!r}, but "
                             f"{self.collection.name} comes from {self.collection.featurizer!r}; refusing to resume")
        saved_episodes = blob["config"].get("episodes")  # absent in checkpoints that predate the record
        if saved_episodes is not None and saved_episodes != self.checkpoint_config()["episodes"]:
            raise ValueError(f"{path}: checkpoint was written with a different training sampler or different "
                             f"validation episodes; refusing to resume")
        self._set_state(blob["state"])

    def _set_state(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state["learner"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.best_metric, self.best_step = int(state["step"]), float(state["best_metric"]), int(state["best_step"])
        self.bad_evals = int(state["bad_evals"])
        self.history = json.loads(state["history"])
        self._losses = state["pending_losses"].tolist() if "pending_losses" in state else []
        torch.set_rng_state(state["torch_rng"])

    # -- training ------------------------------------------------------------------------------------------
    @property
    def metric_key(self) -> str:
        """The evaluation metric's name, the suffix of history/CSV columns such as ``val_roc_auc``."""
        return self.config.val_metric

    def validate(self) -> float:
        """Mean ``config.val_metric`` over the (fixed) validation episodes (NaN without validation episodes)."""
        return self._score(self.val_episodes)

    def _score(self, episodes: list[Episode]) -> float:
        """Mean metric over ``episodes``; distributed: each rank scores its slice, every rank gets the mean."""
        if not episodes:
            return math.nan
        start, stop = shard_bounds(len(episodes), self.dist.rank, self.dist.world_size)
        results = (evaluate_episodes(self.learner, self.collection, episodes[start:stop], self.config.val_metric)
                   if stop > start else [])
        return float(np.mean(all_gather_lists([r.metric for r in results])))

    def meta_gradient(self, step: int) -> tuple[torch.Tensor, list[Episode], MetaBatch]:
        """Zeroes the gradients, then accumulates the meta-gradient of meta-training step ``step`` into ``.grad``.

        Returns the meta-loss, the step's episodes and the collated meta-batch this process ran. Distributed,
        this rank runs its slice of the episodes and the gradients and loss are all-reduced to those of the whole
        meta-batch in one process (up to float summation order). A non-finite loss raises
        :class:`~graphmeta.numerics.DivergenceError` naming the diverged task(s) before any weight changes.
        """
        cfg = self.config
        episodes = sample_meta_batch(self.collection, self.train_sampler, self.split.train, cfg.meta_batch_size,
                                     cfg.seed, step, self.split.unit)
        mine = episodes
        if self.dist.distributed:
            start, stop = shard_bounds(len(episodes), self.dist.rank, self.dist.world_size)
            mine = episodes[start:stop]
        meta_batch = collate_episodes(self.collection, mine)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.learner.meta_step(meta_batch)
        if not self.dist.distributed:
            check_meta_step(out, mine, self.collection, step)
            return out.loss, episodes, meta_batch
        loss = all_reduce_meta_gradient(self.learner.parameters(), out.loss, len(mine) / len(episodes))
        if not bool(torch.isfinite(loss)):  # every rank sees it: the all-reduced sum carries the NaN / inf
            check_meta_step(out, mine, self.collection, step)  # the rank holding the diverged task names it
            raise DivergenceError(f"non-finite meta-loss at meta-step {step}, from the tasks of another rank")
        return loss, episodes, meta_batch

    def _update_running_stats(self, episodes: list[Episode], meta_batch: MetaBatch) -> None:
        """``norm="running"``: moves the statistics towards the step's support; distributed, rank 0 uses the whole
        meta-batch's support and sends the buffers to the others."""
        with torch.no_grad():
            if not self.dist.distributed:
                self.learner.model.encoder(meta_batch.support, update_running_stats=True)
                return
            if self.dist.is_main:
                support = collate_episodes(self.collection, episodes).support
                self.learner.model.encoder(support, update_running_stats=True)
            broadcast_buffers(self.learner.model.encoder)

    def _write_logs(self) -> None:
        if self.out_dir is None or not self.dist.is_main:
            return
        (self.out_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        with open(self.out_dir / "metrics.csv", "w", newline="") as handle:
            fields = ["step", "train_loss", *(f"{n}_{self.metric_key}" for n in ("val", *self.monitor)), "best"]
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.history)

    def fit(self, resume: bool = False) -> TrainResult:
        """Runs (or, with ``resume=True`` and a ``last.pt`` in ``out_dir``, continues) meta-training."""
        with deterministic(self.deterministic):
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        cfg = self.config
        if self.out_dir is not None:
            if self.dist.is_main:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                (self.out_dir / "config.json").write_text(json.dumps(self.checkpoint_config(), indent=1))
                if resume and (self.out_dir / "last.pt").is_file():
                    self.load(self.out_dir / "last.pt")
        elif resume:
            raise ValueError("resume=True needs an out_dir holding last.pt")
        if self.dist.distributed:  # every rank starts from rank 0's weights, optimizer and counters
            self._set_state(broadcast_object(self._state() if self.dist.is_main else None))
        stopped_early = False
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"meta-training {cfg.learner}", unit="step",
                   disable=not self.progress, leave=False)
        while self.step < cfg.steps:
            loss, episodes, meta_batch = self.meta_gradient(self.step)  # raises naming diverged task(s)
            checked_grad_norm(self.learner.named_parameters(), cfg.grad_clip, self.step, episodes, self.collection)
            for group in self.optimizer.param_groups:  # stateless in the step: a resume follows the same schedule
                group["lr"] = cfg.outer_lr * lr_multiplier(self.step, cfg.steps, cfg.warmup_steps, cfg.lr_schedule)
            self.optimizer.step()
            if cfg.norm == "running":
                self._update_running_stats(episodes, meta_batch)
            self._losses.append(float(loss))
            self.step += 1
            bar.update(1)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                metric = self.validate()
                improved = metric > self.best_metric if self.selects else True  # no validation: last = best
                if improved:
                    self.best_metric, self.best_step, self.bad_evals = metric, self.step, 0
                else:
                    self.bad_evals += 1
                entry = {"step": self.step, "train_loss": float(np.mean(self._losses)),
                         f"val_{self.metric_key}": metric if self.selects else None}
                entry.update({f"{name}_{self.metric_key}": self._score(eps) for name, eps in self.monitor.items()})
                self.history.append({**entry, "best": improved})
                self._losses = []
                bar.set_postfix(loss=f"{self.history[-1]['train_loss']:.3f}", val=f"{metric:.3f}")  # nan: none
                if improved:
                    self._best_weights = {k: v.detach().clone() for k, v in self.learner.state_dict().items()}
                    self.save("best")
                self.save("last")
                self._write_logs()
                if cfg.patience is not None and self.bad_evals >= cfg.patience:
                    stopped_early = True
                    break
            elif cfg.checkpoint_every is not None and self.step % cfg.checkpoint_every == 0:
                self.save("last")
        bar.close()
        return TrainResult(best_step=self.best_step, best_metric=self.best_metric, steps_done=self.step,
                           history=list(self.history), stopped_early=stopped_early)

    def load_best(self) -> None:
        """Loads the weights that scored best on the validation tasks (kept in memory, else ``best.pt``)."""
        if self._best_weights is not None:
            self.learner.load_state_dict(self._best_weights)
            return
        if self.out_dir is None or not (self.out_dir / "best.pt").is_file():
            raise FileNotFoundError("no best weights yet: run fit() first")
        blob = load_checkpoint(self.out_dir / "best.pt", kind="meta-trainer")
        self.learner.load_state_dict(blob["state"]["learner"])
