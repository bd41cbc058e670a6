"""Meta-learners by name, so configs and checkpoints say ``"maml"`` instead of pickling classes."""

from __future__ import annotations

from typing import Any, Callable

from graphmeta.meta.base import MetaLearner
from graphmeta.meta.finetune import FineTune
from graphmeta.meta.maml import MAML
from graphmeta.meta.protonet import ProtoNet
from graphmeta.meta.reptile import Reptile
from graphmeta.nn.backbone import FewShotModel

__all__ = ["LEARNERS", "build_learner"]

_INNER = ("inner_lr", "inner_steps")
#: name -> (constructor, the options it accepts)
LEARNERS: dict[str, tuple[Callable[..., MetaLearner], tuple[str, ...]]] = {
    "maml": (lambda m, **kw: MAML(m, **kw), _INNER),
    "fomaml": (lambda m, **kw: MAML(m, first_order=True, **kw), _INNER),
    "anil": (lambda m, **kw: MAML(m, adapt="head", **kw), _INNER + ("first_order",)),
    "metasgd": (lambda m, **kw: MAML(m, learn_inner_lr=True, **kw), _INNER + ("first_order",)),
    "reptile": (lambda m, **kw: Reptile(m, **kw), _INNER),
    "protonet": (lambda m, **kw: ProtoNet(m, **kw), ("distance", "scale")),
    "finetune": (lambda m, **kw: FineTune(m, **kw), ("n_tasks", "head_steps", "head_lr", "head_weight_decay")),
}


def build_learner(name: str, model: FewShotModel, **options: Any) -> MetaLearner:
    """The meta-learner ``name`` on ``model``; options it does not take are ignored only if ``None``."""
    try:
        make, accepted = LEARNERS[name]
    except KeyError:
        raise KeyError(f"unknown meta-learner {name!r}; known: {sorted(LEARNERS)}") from None
    unknown = [k for k, v in options.items() if k not in accepted and v is not None]
    if unknown:
        raise TypeError(f"meta-learner {name!r} does not take option(s) {unknown}; it takes {list(accepted)}")
    return make(model, **{k: v for k, v in options.items() if k in accepted and v is not None})
