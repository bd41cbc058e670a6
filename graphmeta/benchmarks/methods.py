"""The methods a benchmark (or the demo) can run, by name: meta-learners with their default settings, and the
fingerprint baselines that need no meta-training."""

from __future__ import annotations

from typing import Any

__all__ = ["META_METHODS", "BASELINE_METHODS", "METHODS", "method_overrides", "fingerprint_options"]

#: ``TrainConfig`` overrides of each meta-learning method (the demo uses ``protonet`` and ``maml``).
META_METHODS: dict[str, dict[str, Any]] = {
    "protonet": dict(learner="protonet", outer_lr=1e-3),
    "maml": dict(learner="maml", outer_lr=1e-3, inner_lr=0.05, inner_steps=3),
    "fomaml": dict(learner="fomaml", outer_lr=1e-3, inner_lr=0.05, inner_steps=3),
    "anil": dict(learner="anil", outer_lr=1e-3, inner_lr=0.1, inner_steps=5),
    "metasgd": dict(learner="metasgd", outer_lr=1e-3, inner_lr=0.05, inner_steps=3),
    "reptile": dict(learner="reptile", outer_lr=1e-3),
    "finetune": dict(learner="finetune", outer_lr=1e-3),
}

#: Baselines fitted on each support alone (ECFP4 fingerprints).
BASELINE_METHODS: tuple[str, ...] = ("rf", "knn")

METHODS: tuple[str, ...] = (*META_METHODS, *BASELINE_METHODS)


def method_overrides(method: str, distance: str = "euclidean") -> dict[str, Any]:
    """The ``TrainConfig`` overrides of a meta-learning method (a copy); ``distance``: ProtoNet's
    query-to-prototype distance (an error for a method without prototypes unless it is the default)."""
    if method not in META_METHODS:
        raise KeyError(f"unknown meta-learning method {method!r}; known: {sorted(META_METHODS)}")
    overrides = dict(META_METHODS[method])
    if distance != "euclidean":
        if overrides["learner"] != "protonet":
            raise ValueError(f"distance={distance!r} is a ProtoNet option; method {method!r} has no prototypes")
        overrides["learner_options"] = {**overrides.get("learner_options", {}), "distance": distance}
    return overrides


def fingerprint_options(bits: int, descriptors: bool = False, fusion_channels: int = 0) -> dict[str, Any]:
    """``TrainConfig.encoder_options`` of a backbone that reads ``bits`` ECFP4 bits (0: none) and, with
    ``descriptors``, the RDKit 2D descriptors of :mod:`graphmeta.data.descriptors` beside its readout, fused by
    a hidden layer ``fusion_channels`` wide (0: the backbone's width)."""
    options: dict[str, Any] = {"fingerprint_channels": bits} if bits else {}
    if fusion_channels:
        options["fusion_channels"] = fusion_channels
    if descriptors:
        from graphmeta.data.descriptors import DESCRIPTOR_NAMES

        options["descriptor_channels"] = len(DESCRIPTOR_NAMES)
    return options
