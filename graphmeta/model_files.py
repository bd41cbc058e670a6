"""Meta-trained models as files: export a trained learner, list the shipped ones, load one by name or path.

A *model file* is a safe checkpoint (:mod:`graphmeta.checkpoint`, ``kind="meta-model"``) holding the learner's
weights and everything needed to rebuild it: the :class:`~graphmeta.train.TrainConfig`, the backbone settings,
the featurizer that made its training graphs, and where it was trained. It has no optimizer state, so it is
small. A MetaTrainer checkpoint (``best.pt`` / ``last.pt``) loads the same way.

graphmeta ships a few small models (``graphmeta/pretrained/*.pt``, listed by :func:`available_models`), each
with a JSON file next to it recording the command that produced it, so anyone can rebuild them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphmeta.safe_write import atomic_write_json
from graphmeta.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from graphmeta.choices import PRETRAINED_DIR, available_models
from graphmeta.data.featurize import MoleculeFeaturizer, graphs_key
from graphmeta.meta.base import MetaLearner
from graphmeta.train import MetaTrainer, TrainConfig, build_meta_learner

__all__ = ["PRETRAINED_DIR", "MetaModel", "available_models", "resolve_model", "load_meta_model",
           "cached_meta_model", "meta_model_from_checkpoint", "export_model"]

_KINDS = ("meta-model", "meta-trainer")


@dataclass
class MetaModel:
    """A loaded meta-trained model.

    Attributes:
        learner: the meta-learner (in eval mode) with its backbone, ``learner.model``.
        config: its training configuration.
        featurizer: :attr:`MoleculeFeaturizer.cache_key` of its training graphs (``None``: not molecules).
        trained_on: the collection it was meta-trained on.
        source: the file it was loaded from.
        info: the rest of the checkpoint's record (split, graphmeta version, provenance).
    """

    learner: MetaLearner
    config: TrainConfig
    featurizer: str | None
    trained_on: str
    source: Path
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return self.source.stem

    def molecule_featurizer(self) -> MoleculeFeaturizer | None:
        """The featurizer that made the model's training graphs (``None`` when they were not molecules).

        Raises :class:`CheckpointError` naming the model file when this graphmeta cannot make such graphs
        (another featurizer, or another version of it).
        """
        if not self.featurizer:
            return None
        try:
            return MoleculeFeaturizer.from_cache_key(self.featurizer)
        except ValueError as err:
            raise CheckpointError(f"{self.source}: {err}") from None

    def check_featurizer(self, featurizer: str | None, what: str) -> None:
        """Raises ``ValueError`` naming the model file when graphs ``what`` come from another featurizer than the
        model's training graphs (``None``: graphs of unknown origin, e.g. PyG ``Data``, are not checked). The
        sanitization mode may differ: it decides which molecules are accepted, not their graphs."""
        if (featurizer is not None and self.featurizer is not None
                and graphs_key(featurizer) != graphs_key(self.featurizer)):
            raise ValueError(f"{self.source}: the model was trained on graphs from featurizer {self.featurizer!r}, "
                             f"but {what} come from {featurizer!r}; featurize them with the model's featurizer")


def resolve_model(model: str | os.PathLike) -> Path:
    """The file of a shipped model name, or ``model`` itself when it is a path to an existing file."""
    path = Path(model)
    if path.is_file():
        return path
    shipped = available_models()
    if str(model) in shipped:
        return shipped[str(model)]
    raise FileNotFoundError(f"no model {str(model)!r}: not a file, and not one of the shipped models "
                            f"{sorted(shipped)}")


def load_meta_model(model: str | os.PathLike) -> MetaModel:
    """Loads a shipped model (by name) or a model / MetaTrainer checkpoint file (weights only, never code).

    Raises:
        FileNotFoundError: no such file or shipped model.
        CheckpointError: the file is corrupt, not a graphmeta model, or its weights do not fit its config
            (the message names the file).
    """
    path = resolve_model(model)
    return meta_model_from_checkpoint(load_checkpoint(path), path)


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> MetaModel:
    return load_meta_model(path)


def cached_meta_model(model: str | os.PathLike) -> MetaModel:
    """:func:`load_meta_model`, loaded once per file version: models are read-only at prediction time, so
    estimators (and their clones) and command-line steps share one copy."""
    path = resolve_model(model)
    return _cached(str(path.resolve()), path.stat().st_mtime_ns)


def meta_model_from_checkpoint(blob: dict[str, Any], path: Path) -> MetaModel:
    """Rebuilds the model of a loaded checkpoint ``blob`` (read from ``path``, named in errors)."""
    if blob.get("kind") not in _KINDS:
        raise CheckpointError(f"{path}: a {blob.get('kind')!r} checkpoint, not a meta-trained model ({_KINDS})")
    record = blob["config"]
    try:
        config = TrainConfig(**record["train"])
        n_way = int(record.get("n_way", 2))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable model configuration ({type(err).__name__}: {err})") from None
    if config.learner == "finetune" and record.get("n_tasks") is None:
        raise CheckpointError(f"{path}: a finetune model needs its number of training tasks, which this file lacks")
    learner = build_meta_learner(config, n_way, record.get("n_tasks"))
    try:
        learner.load_state_dict(blob["state"]["learner"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: the weights do not fit the model its configuration describes ({err})") from None
    learner.eval()
    info = {k: v for k, v in record.items() if k not in ("train", "featurizer", "collection")}
    return MetaModel(learner=learner, config=config, featurizer=record.get("featurizer"),
                     trained_on=str(record.get("collection", "?")), source=path, info=info)


def export_model(trainer: MetaTrainer, path: str | os.PathLike, provenance: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Writes ``trainer``'s current learner as a model file (no optimizer state), atomically.

    ``provenance`` (e.g. the command that trained it) is stored in the file and, as JSON, next to it; ``extra``
    adds records such as the Super Learner's cross-task fallback weights (``"superlearner_fallback"``).
    """
    config = {**trainer.checkpoint_config(), **dict(extra or {}), "provenance": dict(provenance or {})}
    out = save_checkpoint(path, "meta-model", config, {"learner": trainer.learner.state_dict()})
    atomic_write_json({k: v for k, v in config.items() if k != "episodes"}, out.with_suffix(".json"))
    return out
