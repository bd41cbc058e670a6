"""Meta-learners on the task-batched core: MAML (second/first order, ANIL, Meta-SGD), Reptile, ProtoNet."""

from graphmeta.meta.base import MetaLearner, MetaOutput, task_losses
from graphmeta.meta.maml import MAML
from graphmeta.meta.protonet import ProtoNet
from graphmeta.meta.reptile import Reptile

__all__ = ["MAML", "MetaLearner", "MetaOutput", "ProtoNet", "Reptile", "task_losses"]
