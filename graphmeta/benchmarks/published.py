"""Published few-shot results that graphmeta's benchmarks are compared with (numbers as printed in the papers).

MoleculeNet few-shot (PAR / Meta-MGNN protocol, ROC-AUC x 100, test-task mean): Wang et al., "Property-Aware
Relation Networks for Few-Shot Molecular Property Prediction" (NeurIPS 2021), Table 2; ``Pre-PAR`` starts
from a GIN pretrained on 2M ZINC molecules (Hu et al. 2020).
"""

from __future__ import annotations

__all__ = ["MOLNET_PUBLISHED", "MOLNET_SOURCE", "FSMOL_PUBLISHED", "FSMOL_SOURCE"]

MOLNET_SOURCE = ("Wang, Abuduweili, Yao, Dou: Property-Aware Relation Networks for Few-Shot Molecular Property "
                 "Prediction, NeurIPS 2021, Table 2 (ROC-AUC x 100; * = pretrained GIN)")

#: ``{dataset: {shots: {method: ROC-AUC x 100}}}``
MOLNET_PUBLISHED: dict[str, dict[int, dict[str, float]]] = {
    "tox21": {10: {"ProtoNet": 74.98, "MAML": 80.21, "PAR": 82.06, "Pre-PAR*": 84.93},
              1: {"ProtoNet": 65.58, "MAML": 75.74, "PAR": 80.46, "Pre-PAR*": 83.01}},
    "sider": {10: {"ProtoNet": 64.54, "MAML": 70.43, "PAR": 74.68, "Pre-PAR*": 78.08},
              1: {"ProtoNet": 57.50, "MAML": 67.81, "PAR": 71.87, "Pre-PAR*": 74.46}},
    "muv": {10: {"ProtoNet": 65.88, "MAML": 63.90, "PAR": 66.48, "Pre-PAR*": 69.96},
            1: {"ProtoNet": 58.31, "MAML": 60.51, "PAR": 64.12, "Pre-PAR*": 66.94}},
    "toxcast": {10: {"ProtoNet": 63.70, "MAML": 66.79, "PAR": 69.72, "Pre-PAR*": 75.12},
                1: {"ProtoNet": 56.36, "MAML": 65.97, "PAR": 67.28, "Pre-PAR*": 73.63}},
}

FSMOL_SOURCE = ("Chen, Tripp, Brockschmidt et al. / Stanley et al.: FS-Mol (NeurIPS 2021 Datasets and Benchmarks) and "
                "Chen et al.: Meta-learning Adaptive Deep Kernel Gaussian Processes for Molecular Property "
                "Prediction (ICLR 2023, ADKF-IFT); mean delta-AUPRC over the 157 test tasks")

#: ``{method: {support size: delta-AUPRC}}`` on FS-Mol's test tasks (models trained on all 4,938 train tasks).
FSMOL_PUBLISHED: dict[str, dict[int, float]] = {
    "ADKF-IFT": {16: 0.2295, 128: 0.3162},
    "DKT": {16: 0.2150, 128: 0.3017},
    "ProtoNet": {16: 0.2059, 128: 0.3013},
    "GNN-MAML": {16: 0.1601, 128: 0.1923},
    "GNN-MT": {16: 0.1122, 128: 0.2228},
    "RF": {16: 0.0934, 128: 0.2129},
    "kNN": {16: 0.0508, 128: 0.1393},
}

# -- few-shot graph classification on TU-derived data (accuracy %, N-way = all test classes of the GSM split) --
__all__ += ["TU_PUBLISHED", "TU_SOURCE"]

TU_SOURCE = ("Upper references (some of these papers select checkpoints or settings on test episodes): "
             "AS-MAML: Ma et al., Adaptive-Step Graph Meta-Learner for Few-Shot Graph Classification, CIKM 2020; "
             "GSM-GAT: Chauhan, Nathani, Kaul, Few-Shot Learning on Graphs via Super-Classes based on Graph "
             "Spectral Measures, ICLR 2020; FAITH: Wang et al., Faith: Few-Shot Graph Classification with "
             "Hierarchical Task Graphs, IJCAI 2022 (test accuracy %, 5-shot and 10-shot)")

#: ``{benchmark: {shots: {method: accuracy %}}}`` (benchmark names of :data:`graphmeta.benchmarks.tu.TU_BENCHMARKS`).
TU_PUBLISHED: dict[str, dict[int, dict[str, float]]] = {
    "triangles": {5: {"AS-MAML": 86.5}, 10: {"AS-MAML": 87.3}},
    "letter-high": {5: {"AS-MAML": 76.3}, 10: {"AS-MAML": 77.9}},
    "enzymes": {5: {"GSM-GAT": 55.4, "FAITH": 57.9}, 10: {"GSM-GAT": 60.6, "FAITH": 62.2}},
}
