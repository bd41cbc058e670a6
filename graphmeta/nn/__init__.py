"""Task-batched GNN building blocks: every weight may be shared or stacked per task."""

from graphmeta.nn.backbone import BatchLayout, FewShotModel, GraphEncoder
from graphmeta.nn.encoders import CategoricalEncoder, ContinuousEncoder
from graphmeta.nn.gcn import GCNLayer
from graphmeta.nn.gin import GINELayer
from graphmeta.nn.norm import NORM_MODES, TaskNorm
from graphmeta.nn.taskbatch import TaskLayout, task_embedding, task_linear

__all__ = ["BatchLayout", "FewShotModel", "GraphEncoder", "CategoricalEncoder", "ContinuousEncoder", "GCNLayer",
           "GINELayer", "NORM_MODES", "TaskNorm", "TaskLayout", "task_embedding", "task_linear"]
