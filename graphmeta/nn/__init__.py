"""Task-batched GNN building blocks: every weight may be shared or stacked per task."""

from graphmeta.nn.backbone import CONVS, BatchLayout, FewShotModel, GraphEncoder
from graphmeta.nn.encoders import CategoricalEncoder, ContinuousEncoder
from graphmeta.nn.gat import GATLayer
from graphmeta.nn.gcn import GCNLayer
from graphmeta.nn.gin import GINELayer
from graphmeta.nn.norm import NORM_MODES, SupportStatistics, TaskNorm
from graphmeta.nn.readout import READOUTS, Readout
from graphmeta.nn.sage import SAGELayer
from graphmeta.nn.taskbatch import TaskLayout, task_embedding, task_linear

__all__ = ["BatchLayout", "CONVS", "FewShotModel", "GraphEncoder", "CategoricalEncoder", "ContinuousEncoder",
           "GATLayer", "GCNLayer", "GINELayer", "NORM_MODES", "READOUTS", "Readout", "SAGELayer", "SupportStatistics",
           "TaskNorm", "TaskLayout", "task_embedding", "task_linear"]
