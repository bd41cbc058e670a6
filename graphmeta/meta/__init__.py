"""Meta-learners on the task-batched core: MAML (second/first order, ANIL, Meta-SGD), Reptile, ProtoNet, and the
fine-tune/multitask baseline."""

from graphmeta.meta.base import MetaLearner, MetaOutput, task_losses
from graphmeta.meta.finetune import FineTune
from graphmeta.meta.maml import MAML
from graphmeta.meta.protonet import ProtoNet
from graphmeta.meta.reptile import Reptile

__all__ = ["FineTune", "MAML", "MetaLearner", "MetaOutput", "ProtoNet", "Reptile", "task_losses"]
