"""The names users choose from on the command line and in the predictor: shipped models, heads, calibrations.

Defined here, without torch or RDKit, so that ``graphmeta predict --help`` (and ``evaluate``, ``embed``) list
them at once; the modules that implement them (:mod:`graphmeta.model_files`, :mod:`graphmeta.predictor`,
:mod:`graphmeta.calibration`) import them from here.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CALIBRATIONS", "HEADS", "PRETRAINED_DIR", "available_models"]

#: the folder of the models shipped with graphmeta (``<name>.pt`` + ``<name>.json``)
PRETRAINED_DIR = Path(__file__).parent / "pretrained"

#: how :class:`~graphmeta.predictor.FewShotClassifier` adapts to a support
HEADS: tuple[str, ...] = ("protonet", "maml", "logreg", "knn", "rf", "superlearner")

#: ``calibration=`` options of :class:`~graphmeta.predictor.FewShotClassifier` (:mod:`graphmeta.calibration`)
CALIBRATIONS: tuple[str, ...] = ("platt", "none")


def available_models() -> dict[str, Path]:
    """The models shipped with graphmeta, by name (``"tox21-protonet"`` ...)."""
    return {p.stem: p for p in sorted(PRETRAINED_DIR.glob("*.pt"))}
