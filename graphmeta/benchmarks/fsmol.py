"""FS-Mol benchmark: the 157 test assays, stratified supports of 16/32/64/128/256, delta-AUPRC.

Protocol (Stanley et al., FS-Mol, NeurIPS 2021): for each test task and support size, ``draws`` supports are
drawn keeping the task's positive fraction (at least one of each class), the query is every other molecule of
the task, and the metric is delta-AUPRC = AUPRC - fraction of positives in the query; a support size is skipped
for a task that has no more molecules than the support (counted and reported per size). The score of a support
size is the mean over tasks of each task's mean over draws.

Meta-training uses the FS-Mol training tasks present in the data folder and selects its checkpoint on the
FS-Mol **validation** tasks (delta-AUPRC with stratified supports of ``val_support_size``); test tasks are never
seen before the final evaluation. ``../shared/data`` holds 247 of the 4,938 training tasks (a 1-in-20 sample);
the published models used all of them, which the result records (``train_tasks``).

Meta-overfitting report: the same metric on fresh episodes of training tasks (``monitor_tasks`` of them) is
logged during training beside the validation curve, and the final model is scored on them: ``gap``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from graphmeta.benchmarks.common import baseline_results, calibration, mean_std, task_mean
from graphmeta.benchmarks.methods import BASELINE_METHODS, META_METHODS, fingerprint_options, method_overrides
from graphmeta.benchmarks.published import FSMOL_PUBLISHED, FSMOL_SOURCE
from graphmeta.data.episodes import Episode, NotEnoughExamplesError, StratifiedSupportSampler, episode_rng
from graphmeta.data.splits import TaskSplit, predefined_split
from graphmeta.data.tasks import TaskCollection
from graphmeta.evaluate import EVAL_STREAM, EpisodeResult, evaluate_episodes
from graphmeta.train import MetaTrainer, TrainConfig

__all__ = ["FSMOL_SUPPORT_SIZES", "FsmolSettings", "run_fsmol", "sample_stratified_episodes"]

FSMOL_SUPPORT_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256)


@dataclass
class FsmolSettings:
    """One run of the FS-Mol protocol. Defaults are the full protocol; :meth:`quick` is a smoke version."""

    support_sizes: tuple[int, ...] = FSMOL_SUPPORT_SIZES
    draws: int = 10
    seeds: tuple[int, ...] = (0,)
    steps: int = 2000
    eval_every: int = 200
    train_shots: int = 8  # meta-training supports: 8 positives + 8 negatives
    train_query: int = 16
    meta_batch_size: int = 8
    val_support_size: int = 16
    val_draws: int = 2
    val_query: int | None = 256
    monitor_tasks: int = 40  # training tasks scored for the overfitting report
    hidden_channels: int = 128
    num_layers: int = 5
    test_tasks: int | None = None  # only the first N test tasks (quick runs); None = all 157
    valid_tasks: int | None = None  # only the first N validation tasks (quick runs)
    query_cap: int | None = None  # cap on the test query; None = the protocol (all other molecules)
    pretrained_encoder: str | None = None  # backbone from `graphmeta pretrain` (encoder.pt)
    fingerprint_bits: int = 0  # > 0: ECFP4 bits beside the GNN readout (the collection must be featurized with them)
    descriptors: bool = False  # RDKit 2D descriptors beside the GNN readout (the collection must have them too)
    extra_train: tuple[str, ...] = ()  # other datasets whose tasks are added to meta-training (extra_tasks.py)
    train_assays: str = "sample"  # "full": all 4,935 FS-Mol training assays (extra_tasks.use_full_training_set)
    norm: str = "task"  # backbone normalization mode (graphmeta.nn.norm)
    precision: str = "fp32"  # meta-step precision ("bf16": autocast; validation and test stay fp32)
    fusion_channels: int = 0  # hidden width of the GNN + ECFP + descriptor fusion (0: the GNN's width)
    distance: str = "euclidean"  # ProtoNet's query-to-prototype distance (graphmeta.meta.protonet.DISTANCES)
    lr_schedule: str = "constant"  # meta-learning rate: constant or cosine decay to 0 at `steps`
    warmup_steps: int = 0  # linear warmup of the meta-learning rate

    @classmethod
    def quick(cls) -> "FsmolSettings":
        """Tiny model, a few steps, 4 test and 4 validation tasks: checks that the protocol runs, not a result."""
        return cls(support_sizes=(16, 32), draws=1, steps=4, eval_every=2, meta_batch_size=2, val_draws=1,
                   val_query=32, monitor_tasks=4, hidden_channels=16, num_layers=2, test_tasks=4, valid_tasks=4,
                   query_cap=64)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["support_sizes"], out["seeds"] = list(self.support_sizes), list(self.seeds)
        out["extra_train"] = list(self.extra_train)
        return out


def sample_stratified_episodes(collection: TaskCollection, tasks: Sequence[int], support_size: int, draws: int,
                               seed: int, query_cap: int | None = None) -> tuple[list[Episode], list[dict[str, Any]]]:
    """``draws`` stratified episodes per task (same for the same seed); the query is the rest of the task, at most
    ``query_cap`` molecules (stratified). Tasks too small for the support are skipped and returned as
    ``{"task", "name", "reason"}`` entries."""
    episodes, skipped = [], []
    for t in tasks:
        n_labelled = len(collection.labels.task(int(t))[0])
        cap = None if query_cap is None or n_labelled - support_size <= query_cap else query_cap
        sampler = StratifiedSupportSampler(support_size, n_query=cap, stratify_query=cap is not None)
        try:
            episodes.extend(sampler.sample(collection, int(t), episode_rng(seed, EVAL_STREAM, support_size, int(t), d))
                            for d in range(draws))
        except NotEnoughExamplesError as err:
            skipped.append({"task": int(t), "name": collection.task_names[int(t)], "reason": str(err)})
    return episodes, skipped


def _config(method: str, settings: FsmolSettings, seed: int) -> TrainConfig:
    base = dict(steps=settings.steps, eval_every=settings.eval_every, meta_batch_size=settings.meta_batch_size,
                k_shot=settings.train_shots, n_query=settings.train_query, val_draws=settings.val_draws,
                val_query=settings.val_query, val_metric="delta_auprc", val_support_size=settings.val_support_size,
                seed=seed, hidden_channels=settings.hidden_channels, num_layers=settings.num_layers,
                pretrained_encoder=settings.pretrained_encoder,
                encoder_options=fingerprint_options(settings.fingerprint_bits, settings.descriptors,
                                                    settings.fusion_channels),
                norm=settings.norm, precision=settings.precision, lr_schedule=settings.lr_schedule,
                warmup_steps=settings.warmup_steps)
    return TrainConfig(**{**base, **method_overrides(method, settings.distance)})


def run_fsmol(collection: TaskCollection, method: str, settings: FsmolSettings, progress: bool = True,
              run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Runs the FS-Mol protocol for one method; a JSON-safe dict with per-seed, per-size results and a summary.

    With ``run_dir``, each seed's meta-training writes its history and checkpoints to ``run_dir/METHOD_seedN``
    (validation curve visible while it runs) and continues from its ``last.pt`` when rerun: an interrupted run
    resumes where it stopped (a checkpoint of different settings is refused, naming them).
    """
    if method not in META_METHODS and method not in BASELINE_METHODS:
        raise KeyError(f"unknown method {method!r}; known: {sorted(META_METHODS) + list(BASELINE_METHODS)}")
    split = predefined_split(collection)
    if not split.valid:
        raise ValueError(f"{collection.name} has no validation tasks: FS-Mol selects on its valid assays")
    test = split.test[:settings.test_tasks] if settings.test_tasks else split.test
    valid = split.valid[:settings.valid_tasks] if settings.valid_tasks else split.valid
    split = TaskSplit(train=split.train, valid=valid, test=test, description=split.description)
    cache = None
    if method in BASELINE_METHODS:
        from graphmeta.baselines.fingerprints import FingerprintCache

        cache = FingerprintCache(collection)
    seeds = []
    for seed in tqdm(settings.seeds, desc=f"fsmol {method}", unit="seed", disable=not progress):
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        monitor_ids = sorted(rng.choice(split.train, size=min(settings.monitor_tasks, len(split.train)),
                                        replace=False).tolist())
        monitor, _ = sample_stratified_episodes(collection, monitor_ids, settings.support_sizes[0], 1, seed + 1,
                                                query_cap=256)
        out: dict[str, Any] = {"seed": seed}
        if method in META_METHODS:
            out_dir = Path(run_dir) / f"{method}_seed{seed}" if run_dir is not None else None
            trainer = MetaTrainer(collection, split, _config(method, settings, seed), out_dir, progress=progress,
                                  monitor={"train": monitor})
            result = trainer.fit(resume=out_dir is not None)
            trainer.load_best()
            out.update(best_step=result.best_step, best_valid_delta_auprc=result.best_metric, history=result.history)

            def score(episodes: list[Episode]) -> list[EpisodeResult]:
                return evaluate_episodes(trainer.learner, collection, episodes, "delta_auprc")
        else:
            def score(episodes: list[Episode]) -> list[EpisodeResult]:
                return baseline_results(collection, method, seed, episodes, cache, "delta_auprc")
        by_size = {}
        for size in settings.support_sizes:
            episodes, skipped = sample_stratified_episodes(collection, split.test, size, settings.draws, seed,
                                                           settings.query_cap)
            results = score(episodes) if episodes else []
            mean, per_task = task_mean(results) if results else (float("nan"), {})
            by_size[str(size)] = {"delta_auprc": mean, "n_tasks": len(per_task), "skipped": skipped,
                                  **(calibration(results) if results else {}),
                                  "per_task": {collection.task_names[t]: v for t, v in per_task.items()}}
        out["by_size"] = by_size
        out["train_delta_auprc"] = task_mean(score(monitor))[0]
        out["seconds"] = time.perf_counter() - start
        seeds.append(out)
    first = str(settings.support_sizes[0])
    summary = {"n_seeds": len(seeds),
               "by_size": {str(k): mean_std([s["by_size"][str(k)]["delta_auprc"] for s in seeds])
                           for k in settings.support_sizes},
               "calibration_by_size": {str(k): {key: mean_std([s["by_size"][str(k)][key] for s in seeds])
                                                for key in ("test_brier", "test_ece")
                                                if all(key in s["by_size"][str(k)] for s in seeds)}
                                       for k in settings.support_sizes},
               "train_delta_auprc": mean_std([s["train_delta_auprc"] for s in seeds]),
               "gap_at_first_size": mean_std([s["train_delta_auprc"] - s["by_size"][first]["delta_auprc"]
                                              for s in seeds])}
    groups = collection.task_groups
    return {"dataset": "fsmol", "method": method, "settings": settings.to_dict(),
            "train_tasks": len(split.train), "valid_tasks": len(split.valid), "test_tasks": len(split.test),
            "train_tasks_published": 4938, "task_groups_present": {k: len(v) for k, v in groups.items()},
            "seeds": seeds, "summary": summary, "published": FSMOL_PUBLISHED, "published_source": FSMOL_SOURCE}
