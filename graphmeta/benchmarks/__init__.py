"""Benchmark protocols against the published record, their methods, tables, plots and provenance records."""

from graphmeta.benchmarks.methods import BASELINE_METHODS, META_METHODS, METHODS
from graphmeta.benchmarks.molnet import MOLNET_DATASETS, MolnetSettings, run_molnet
from graphmeta.benchmarks.report import markdown_table, plot_learning_curves

__all__ = ["BASELINE_METHODS", "META_METHODS", "METHODS", "MOLNET_DATASETS", "MolnetSettings", "run_molnet",
           "markdown_table", "plot_learning_curves"]
