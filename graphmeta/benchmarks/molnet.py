"""MoleculeNet few-shot benchmark, PAR / Meta-MGNN protocol (Tox21, SIDER, MUV, ToxCast).

Protocol (as published): training tasks are the first tasks of the dataset, test tasks the rest
(:func:`~graphmeta.data.splits.par_split`); a support set holds K positives and K negatives, K in {10, 1};
meta-training queries hold 16 molecules; at test the query is every other labelled molecule of the task; the
score is the ROC-AUC per test task, averaged over the test tasks; reported as mean and standard deviation over
seeds.

Model selection never sees a test task. With 9 (Tox21) or 21 (SIDER) training tasks a carved-out validation
pair is a very noisy signal, so the number of meta-training steps (and, with a grid, other settings) is chosen
by **leave-tasks-out cross-validation over the training tasks**: for each fold the learner meta-trains on the
other folds' tasks and is scored on the held-out tasks every ``eval_every`` steps (``cv_draws`` episodes per
held-out task); the setting and step with the best mean held-out ROC-AUC over folds win. The learner is then
retrained on all training tasks for that many steps, and its final weights are evaluated.

By default the cross-validation runs once, with seed ``cv_seed``, and every seed retrains with the settings it
chose (hyperparameters fixed per benchmark, as usual; the spread over seeds is then the spread of training and
test supports). ``cv_seed=None`` runs a cross-validation per seed instead (four times the cost; the spread then
includes the selection's own noise).

Meta-overfitting report: during the retraining the same metric is logged on fresh episodes of the training
tasks and on test-task episodes (query capped at ``monitor_query``; reported only, never used for selection),
and after it the final model is scored on fresh training-task episodes beside the test score: the gap is
``train - test``.

Per seed, everything random follows the seed: initial weights, training episodes, CV folds, test supports.
All methods see the same test supports for a given seed. Baselines (random forest / kNN on ECFP4) are fitted on
each support alone.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from graphmeta.benchmarks.common import baseline_results, calibration, mean_std, task_mean
from graphmeta.benchmarks.methods import BASELINE_METHODS, META_METHODS, fingerprint_options, method_overrides
from graphmeta.benchmarks.published import MOLNET_PUBLISHED, MOLNET_SOURCE
from graphmeta.safe_write import atomic_write_json
from graphmeta.benchmarks.record import git_commit, machine
from graphmeta.data.episodes import Episode, KShotSampler
from graphmeta.data.splits import PAR_SPLITS, TaskSplit, par_split
from graphmeta.data.tasks import TaskCollection
from graphmeta.evaluate import evaluate_episodes, sample_eval_episodes
from graphmeta.train import MetaTrainer, TrainConfig

__all__ = ["MolnetSettings", "MOLNET_DATASETS", "run_molnet", "cross_validate_steps", "protocol_episodes",
           "summarize_seeds"]

MOLNET_DATASETS: tuple[str, ...] = tuple(PAR_SPLITS)

#: Episode-stream offsets (added to the seed) of the training-task monitor, so it never coincides with the
#: test supports of the same seed.
_TRAIN_MONITOR_OFFSET = 10_000


@dataclass
class MolnetSettings:
    """One run of the protocol. Defaults are the full protocol; :meth:`quick` is a seconds-long smoke version."""

    shots: int = 10
    seeds: tuple[int, ...] = tuple(range(10))
    test_draws: int = 5  # support draws per test task and seed (query = all other labelled molecules)
    train_query: int = 16  # query size of meta-training episodes
    meta_batch_size: int = 8
    max_steps: int = 1000  # the CV curve runs to here
    eval_every: int = 100
    n_folds: int = 3
    cv_draws: int = 5  # episodes per held-out task at each CV evaluation
    cv_query: int | None = 256  # held-out query cap (stratified)
    monitor_draws: int = 2  # episodes per task of the overfitting monitors
    monitor_query: int | None = 256
    hidden_channels: int = 128
    num_layers: int = 5
    grid: tuple[dict[str, Any], ...] = ({},)  # TrainConfig overrides tried by the cross-validation
    cv_seed: int | None = 0  # the one CV's seed, its choice used by every seed; None = a CV per seed
    query_cap: int | None = None  # cap on the *test* query (None = the protocol: all other molecules)
    pretrained_encoder: str | None = None  # backbone from `graphmeta pretrain` (encoder.pt)
    fingerprint_bits: int = 0  # > 0: ECFP4 bits beside the GNN readout (the collection must be featurized with them)
    descriptors: bool = False  # RDKit 2D descriptors beside the GNN readout (the collection must have them too)
    precision: str = "fp32"  # meta-step precision ("bf16": autocast; evaluation stays fp32)
    fusion_channels: int = 0  # hidden width of the GNN + ECFP + descriptor fusion (0: the GNN's width)
    distance: str = "euclidean"  # ProtoNet's query-to-prototype distance (graphmeta.meta.protonet.DISTANCES)

    @classmethod
    def quick(cls, shots: int = 10) -> "MolnetSettings":
        """Tiny model and few steps on the real data: a test that the whole protocol runs, not a result."""
        return cls(shots=shots, seeds=(0, 1), test_draws=1, meta_batch_size=2, max_steps=4, eval_every=2,
                   n_folds=2, cv_draws=1, cv_query=32, monitor_draws=1, monitor_query=32, hidden_channels=16,
                   num_layers=2, query_cap=128)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seeds"], out["grid"] = list(self.seeds), [dict(g) for g in self.grid]
        return out


def _config(method: str, settings: MolnetSettings, seed: int, steps: int, overrides: dict[str, Any]) -> TrainConfig:
    base = dict(steps=steps, eval_every=min(settings.eval_every, steps), meta_batch_size=settings.meta_batch_size,
                k_shot=settings.shots, n_query=settings.train_query, val_draws=settings.cv_draws,
                val_query=settings.cv_query, seed=seed, hidden_channels=settings.hidden_channels,
                num_layers=settings.num_layers, pretrained_encoder=settings.pretrained_encoder,
                encoder_options=fingerprint_options(settings.fingerprint_bits, settings.descriptors,
                                                    settings.fusion_channels),
                precision=settings.precision)
    return TrainConfig(**{**base, **method_overrides(method, settings.distance), **overrides})


def cross_validate_steps(collection: TaskCollection, split: TaskSplit, method: str, settings: MolnetSettings,
                         seed: int, progress: bool = False) -> dict[str, Any]:
    """Leave-tasks-out CV over ``split.train``: the grid entry and step with the best mean held-out ROC-AUC."""
    start = time.perf_counter()
    folds = split.folds(settings.n_folds, seed)
    candidates = []
    for g, overrides in enumerate(settings.grid):
        curves = []
        for fold in folds:
            trainer = MetaTrainer(collection, TaskSplit(train=fold.train, valid=fold.valid, test=()),
                                  _config(method, settings, seed, settings.max_steps, overrides), progress=progress)
            history = trainer.fit().history
            curves.append({h["step"]: h["val_roc_auc"] for h in history})
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        mean_curve = {s: statistics.fmean(c[s] for c in curves) for s in steps}
        best_step = max(steps, key=lambda s: (mean_curve[s], -s))  # ties: fewer steps
        candidates.append({"grid_index": g, "overrides": dict(overrides), "best_step": best_step,
                           "best_cv_roc_auc": mean_curve[best_step],
                           "curve": [{"step": s, "cv_roc_auc": mean_curve[s],
                                      "fold_roc_auc": [c[s] for c in curves]} for s in steps]})
    best = max(candidates, key=lambda c: c["best_cv_roc_auc"])
    return {"chosen": {k: best[k] for k in ("grid_index", "overrides", "best_step", "best_cv_roc_auc")},
            "candidates": candidates, "folds": [{"train": list(f.train), "held_out": list(f.valid)} for f in folds],
            "seconds": time.perf_counter() - start}


def protocol_episodes(collection: TaskCollection, tasks: Sequence[int], shots: int, query: int | None, draws: int,
                      seed: int) -> list[Episode]:
    """The protocol's ``draws`` K-shot episodes per task for ``seed`` (query: ``query`` stratified, or all the rest)."""
    sampler = KShotSampler(shots, n_query=query, stratify_query=query is not None)
    return sample_eval_episodes(collection, tasks, sampler, draws, seed)


def _run_meta_seed(collection: TaskCollection, split: TaskSplit, method: str, settings: MolnetSettings, seed: int,
                   test_episodes: list[Episode], train_episodes: list[Episode], progress: bool,
                   shared_cv: dict[str, Any] | None = None) -> dict[str, Any]:
    """Retrains with the choice of ``shared_cv`` (or of this seed's own CV when it is ``None``) and scores."""
    cv = shared_cv if shared_cv is not None else cross_validate_steps(collection, split, method, settings, seed,
                                                                       progress)
    chosen = cv["chosen"]
    monitor = {"train": train_episodes,
               "test": protocol_episodes(collection, split.test, settings.shots, settings.monitor_query,
                                 settings.monitor_draws, seed)}
    trainer = MetaTrainer(collection, TaskSplit(train=split.train, test=split.test),
                          _config(method, settings, seed, chosen["best_step"], chosen["overrides"]),
                          progress=progress, monitor=monitor)
    result = trainer.fit()
    test = evaluate_episodes(trainer.learner, collection, test_episodes)
    test_score, test_per_task = task_mean(test)
    train_score, _ = task_mean(evaluate_episodes(trainer.learner, collection, train_episodes))
    own_cv = {"cv": cv} if shared_cv is None else {}
    return {"test_roc_auc": test_score, "test_per_task": test_per_task, "train_roc_auc": train_score,
            **calibration(test), **own_cv, "retrain_history": result.history, "steps": chosen["best_step"]}


def _run_baseline_seed(collection: TaskCollection, method: str, seed: int, test_episodes: list[Episode],
                       train_episodes: list[Episode], cache: Any) -> dict[str, Any]:
    test = baseline_results(collection, method, seed, test_episodes, cache)
    test_score, test_per_task = task_mean(test)
    train_score, _ = task_mean(baseline_results(collection, method, seed, train_episodes, cache))
    return {"test_roc_auc": test_score, "test_per_task": test_per_task, "train_roc_auc": train_score,
            **calibration(test)}


def _seed_file(seed_dir: Path, name: str, method: str, settings: MolnetSettings, seed: int | str) -> Path:
    """Where a finished seed (``seed``) or the shared cross-validation (``"cv"``) is kept."""
    return seed_dir / f"{name}_{settings.shots}shot_{method}_{'cv' if seed == 'cv' else f'seed{seed}'}.json"


def _save_seed(path: Path, settings: MolnetSettings, result: dict[str, Any]) -> None:
    atomic_write_json({"settings": settings.to_dict(), "commit": git_commit(), "result": result}, path)


#: Settings added after per-seed files were first written, with their defaults: a file without one of them
#: was written with the default, so it stays comparable.
_ADDED_SETTINGS: dict[str, Any] = {"fingerprint_bits": 0, "descriptors": False, "precision": "fp32",
                                   "fusion_channels": 0, "distance": "euclidean"}


def _comparable(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items()
            if k != "seeds" and not (k in _ADDED_SETTINGS and v == _ADDED_SETTINGS[k])}


def _load_seed(path: Path, settings: MolnetSettings) -> dict[str, Any] | None:
    """A finished seed's (or the shared CV's) result from an earlier (interrupted) run with the same settings."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        same = _comparable(saved["settings"]) == _comparable(settings.to_dict())
        result = saved["result"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: unreadable per-seed result ({err}); delete it to recompute the seed") from None
    if not same:
        raise ValueError(f"{path} was written with different settings; use another output folder or delete it")
    return result


def run_molnet(collection: TaskCollection, method: str, settings: MolnetSettings, progress: bool = True,
               on_seed: Callable[[int, dict[str, Any]], None] | None = None,
               seed_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Runs the protocol for one method on ``collection`` (one of :data:`MOLNET_DATASETS`).

    Returns a JSON-safe dict: settings, split, per-seed results (chosen steps, CV curve, retraining learning
    curves with the train/test monitors, per-task test ROC-AUC, train-task ROC-AUC, seconds) and the summary
    over seeds beside the published numbers. ``on_seed(seed, result)`` is called after each seed.

    With ``seed_dir``, each finished seed is written there (atomically, with its settings and commit) and a
    later call with the same settings reuses it: a long run that was interrupted continues with the seeds it
    had not finished (a seed is deterministic, so the result is the same as an uninterrupted run's).
    """
    name = collection.name.lower()
    if name not in PAR_SPLITS:
        raise KeyError(f"no PAR protocol for {collection.name!r}; known: {sorted(PAR_SPLITS)}")
    if method not in META_METHODS and method not in BASELINE_METHODS:
        raise KeyError(f"unknown method {method!r}; known: {sorted(META_METHODS) + list(BASELINE_METHODS)}")
    if collection.task_type != "binary":
        raise ValueError(f"{collection.name} has {collection.task_type} tasks; the PAR protocol needs binary tasks")
    split = par_split(collection)
    cache = None
    if method in BASELINE_METHODS:
        from graphmeta.baselines.fingerprints import FingerprintCache

        cache = FingerprintCache(collection)
    cv_path = _seed_file(Path(seed_dir), name, method, settings, "cv") if seed_dir is not None else None
    shared_cv = None
    if method in META_METHODS and settings.cv_seed is not None:
        shared_cv = _load_seed(cv_path, settings) if cv_path is not None else None
        if shared_cv is None:
            shared_cv = cross_validate_steps(collection, split, method, settings, settings.cv_seed, progress)
            if cv_path is not None:
                _save_seed(cv_path, settings, shared_cv)
    seeds = []
    for seed in tqdm(settings.seeds, desc=f"{name} {settings.shots}-shot {method}", unit="seed",
                     disable=not progress):
        seed_path = _seed_file(Path(seed_dir), name, method, settings, seed) if seed_dir is not None else None
        done = _load_seed(seed_path, settings) if seed_path is not None else None
        if done is not None:
            seeds.append(done)
            continue
        start = time.perf_counter()
        test_episodes = protocol_episodes(collection, split.test, settings.shots, settings.query_cap, settings.test_draws,
                                  seed)
        train_episodes = protocol_episodes(collection, split.train, settings.shots, settings.monitor_query,
                                   settings.monitor_draws, seed + _TRAIN_MONITOR_OFFSET)
        if method in BASELINE_METHODS:
            out = _run_baseline_seed(collection, method, seed, test_episodes, train_episodes, cache)
        else:
            out = _run_meta_seed(collection, split, method, settings, seed, test_episodes, train_episodes, progress,
                                 shared_cv)
        out = {"seed": seed, **out, "seconds": time.perf_counter() - start, "machine": machine(),
               "test_per_task": {str(t): v for t, v in out["test_per_task"].items()}}
        seeds.append(out)
        if seed_path is not None:
            _save_seed(seed_path, settings, out)
        if on_seed is not None:
            on_seed(seed, out)
    return {"dataset": name, "method": method, "shots": settings.shots, "settings": settings.to_dict(),
            "split": {"train": list(split.train), "test": list(split.test), "description": split.description},
            **({"cv": shared_cv} if shared_cv is not None else {}), "seeds": seeds, "summary": summarize_seeds(seeds),
            "compute_seconds": _compute_seconds(shared_cv, seeds),
            "published": MOLNET_PUBLISHED.get(name, {}).get(settings.shots, {}), "published_source": MOLNET_SOURCE}


def _compute_seconds(shared_cv: dict[str, Any] | None, seeds: Sequence[dict[str, Any]]) -> float | None:
    """Seconds the shared CV and every seed took when they were computed (a run that gathers finished seeds
    from OUT/seeds takes almost none itself); ``None`` when a part predates timing (a CV from before it)."""
    parts = [s.get("seconds") for s in seeds] + ([shared_cv.get("seconds")] if shared_cv is not None else [])
    return None if any(x is None for x in parts) else float(sum(parts))


def summarize_seeds(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of the test score (x 100), the train-task score and their gap."""
    test = [s["test_roc_auc"] for s in seeds]
    train = [s["train_roc_auc"] for s in seeds]
    summary = {"n_seeds": len(seeds), "test_roc_auc": mean_std(test, 100), "train_roc_auc": mean_std(train, 100),
               "gap": mean_std([a - b for a, b in zip(train, test)], 100)}
    for key in ("test_brier", "test_ece"):  # seeds computed before calibration was recorded have none
        if all(key in s for s in seeds):
            summary[key] = mean_std([s[key] for s in seeds])
    return summary
