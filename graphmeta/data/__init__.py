"""The data layer: featurization, dataset loaders, task collections, splits and few-shot episodes."""

from graphmeta.data.featurize import InvalidSmilesError, LenientSanitizationWarning, MoleculeFeaturizer
from graphmeta.data.graphs import GraphStore
from graphmeta.data.registry import list_datasets
from graphmeta.data.tasks import RowNotes, SkipReport, SourceInfo, TaskCollection, TaskLabels

__all__ = [
    "GraphStore",
    "InvalidSmilesError",
    "LenientSanitizationWarning",
    "MoleculeFeaturizer",
    "RowNotes",
    "SkipReport",
    "SourceInfo",
    "TaskCollection",
    "TaskLabels",
    "list_datasets",
]
