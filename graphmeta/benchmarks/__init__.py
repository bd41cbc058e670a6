"""Benchmark protocols against the published record, their methods, tables, plots and provenance records."""

from graphmeta.benchmarks.methods import BASELINE_METHODS, META_METHODS, METHODS
from graphmeta.benchmarks.fsmol import FsmolSettings, run_fsmol
from graphmeta.benchmarks.molnet import MOLNET_DATASETS, MolnetSettings, run_molnet
from graphmeta.benchmarks.report import fsmol_markdown_table, markdown_table, plot_learning_curves, tu_markdown_table
from graphmeta.benchmarks.tu import TU_BENCHMARKS, TUSettings, run_tu

__all__ = ["BASELINE_METHODS", "META_METHODS", "METHODS", "MOLNET_DATASETS", "MolnetSettings", "run_molnet",
           "FsmolSettings", "run_fsmol", "TU_BENCHMARKS", "TUSettings", "run_tu", "markdown_table",
           "fsmol_markdown_table", "tu_markdown_table", "plot_learning_curves"]
