"""The data layer: featurization, dataset loaders, task collections, splits and few-shot episodes.

Public names load on first use (:mod:`graphmeta.lazy`): importing a light submodule such as
:mod:`graphmeta.data.vocab` does not pull in RDKit or torch.
"""

from graphmeta.lazy import lazy_exports

_PUBLIC: dict[str, str] = {
    "InvalidSmilesError": "graphmeta.data.featurize",
    "LenientSanitizationWarning": "graphmeta.data.featurize",
    "MoleculeFeaturizer": "graphmeta.data.featurize",
    "GraphStore": "graphmeta.data.graphs",
    "list_datasets": "graphmeta.data.registry",
    "RowNotes": "graphmeta.data.tasks",
    "SkipReport": "graphmeta.data.tasks",
    "SourceInfo": "graphmeta.data.tasks",
    "TaskCollection": "graphmeta.data.tasks",
    "TaskLabels": "graphmeta.data.tasks",
}

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())

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
