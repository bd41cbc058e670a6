"""Named datasets: where each file comes from (URL, sha256), its license and what to cite.

Checksums are those of the files as graphmeta stores them under the data directory (after gunzip or
unzip where the upstream ships an archive); they live in ``checksums/files.tsv`` next to this module.
URLs pin the exact upstream commit the checksums were taken from.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

__all__ = ["RemoteFile", "DatasetInfo", "REGISTRY", "get_info", "list_datasets", "known_sha256"]

Compression = Literal["gzip", "zip"]

_CHEMPROP = "https://raw.githubusercontent.com/chemprop/chemprop/3f2b73372a8968f0f73b2fb279a5780cae918d58/data"
_FSMOL = "https://raw.githubusercontent.com/microsoft/FS-Mol/ec58f4fbc8402f7642d23fdee1d6904652902ea1/datasets"
_GRAPH_NN = "https://raw.githubusercontent.com/bknyaz/graph_nn/72eaa1c6bd70a90fde772ad4a21049ccd6bc97a2/data"
_TRIANGLES = "https://raw.githubusercontent.com/bknyaz/graph_attention_pool/d122fab1f540bb8dcb72211a805a4e1f026db2d0/data"
_GSM = "https://raw.githubusercontent.com/chauhanjatin10/GraphsFewShot/95dc34d2af7f9ab0968fa5c30ea74f6ebab3fc58"
#: MOSES ships its SMILES inside the molsets 0.3.1 wheel on PyPI (zip members ``moses/dataset/data/*.csv.gz``).
_MOSES_WHEEL = ("https://files.pythonhosted.org/packages/ca/04/335f23e9ae95ca381ac7c3f335303dbbeb0f8a604d167891cf60c9"
                "360178/molsets-0.3.1-py3-none-any.whl")
_FSMOL_CITATION = ("Stanley et al., FS-Mol: A Few-Shot Learning Dataset of Molecules, NeurIPS 2021 Datasets "
                   "and Benchmarks; data from ChEMBL")

_MOLECULENET_CITATION = ("Wu et al., MoleculeNet: a benchmark for molecular machine learning, "
                         "Chem. Sci. 9, 513-530 (2018), doi:10.1039/C7SC02664A")
_MOLECULENET_LICENSE = "MIT (chemprop repository copy of the MoleculeNet/DeepChem CSVs)"
_TU_CITATION = ("Morris et al., TUDataset: a collection of benchmark datasets for learning with graphs, "
                "ICML 2020 GRL+ workshop, arXiv:2007.08663; cite each dataset's original paper too")
_TU_LICENSE = "ECL-2.0 (bknyaz/graph_nn repository); TU Dortmund graph kernel benchmark collection"


@lru_cache(maxsize=1)
def _checksums() -> dict[str, str]:
    table = Path(__file__).with_name("checksums") / "files.tsv"
    with open(table, newline="") as handle:
        return {row["path"]: row["sha256"] for row in csv.DictReader(handle, delimiter="\t")}


def known_sha256(path: str) -> str:
    """The sha256 graphmeta knows for ``path`` (relative to the data dir); ``KeyError`` if none."""
    try:
        return _checksums()[path]
    except KeyError:
        raise KeyError(f"graphmeta knows no checksum for {path!r}") from None


def known_paths(prefix: str) -> list[str]:
    """All data-dir paths with a known checksum that start with ``prefix`` (sorted)."""
    return sorted(p for p in _checksums() if p.startswith(prefix))


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its path under the data dir, where to get it and its sha256.

    ``compression="gzip"``: the URL serves the file gzipped. ``compression="zip"``: the URL serves a zip
    archive holding the file as member ``member`` (several files may share one archive URL). A file that no URL
    serves as such (it is derived from upstream files) has ``url=""`` and a ``recipe``: the command that builds it.
    """

    path: str
    url: str
    sha256: str
    compression: Compression | None = None
    member: str | None = None
    recipe: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry of a named dataset."""

    name: str
    kind: Literal["moleculenet", "fsmol", "tu", "tu-split-zips", "gin", "task-table", "corpus"]
    files: tuple[RemoteFile, ...]
    license: str
    citation: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)


def _file(path: str, url: str, compression: Compression | None = None, member: str | None = None) -> RemoteFile:
    return RemoteFile(path=path, url=url, sha256=known_sha256(path), compression=compression, member=member)


def _moleculenet(name: str, file: str, task_type: str, description: str, gz: bool = False,
                 smiles_column: str = "smiles") -> DatasetInfo:
    url = f"{_CHEMPROP}/{file}.gz" if gz else f"{_CHEMPROP}/{file}"
    return DatasetInfo(
        name=name, kind="moleculenet",
        files=(_file(f"moleculenet/{file}", url, "gzip" if gz else None),),
        license=_MOLECULENET_LICENSE, citation=_MOLECULENET_CITATION, description=description,
        options={"task_type": task_type, "smiles_column": smiles_column},
    )


def _tu(name: str, description: str, citation: str = _TU_CITATION) -> DatasetInfo:
    files = tuple(
        _file(path, f"{_GRAPH_NN}/{name}.zip", "zip", member=path.split("/")[-1])
        for path in known_paths(f"tu/{name}/")
    )
    return DatasetInfo(name=name, kind="tu", files=files, license=_TU_LICENSE, citation=citation,
                       description=description, options={"folder": f"tu/{name}"})


def _gin(name: str, folder: str, description: str) -> DatasetInfo:
    files = []
    for path in known_paths(f"tu/fewshot_splits/{folder}/"):
        base = path.split("/")[-1]
        sub = f"src/checkpoints/{folder}" if base == "main_splits.json" else f"datasets/{folder}"
        files.append(_file(path, f"{_GSM}/{sub}/{base}"))
    return DatasetInfo(
        name=name, kind="gin", files=tuple(files),
        license="no license stated (chauhanjatin10/GraphsFewShot); data derived from the TU collection",
        citation=("Chauhan, Nathani, Kaul, Few-Shot Learning on Graphs via Super-Classes based on Graph "
                  "Spectral Measures, ICLR 2020"),
        description=description, options={"folder": f"tu/fewshot_splits/{folder}", "file": f"{folder}.txt"},
    )


def _fsmol() -> DatasetInfo:
    files = tuple(_file(path, f"{_FSMOL}/{path[len('fsmol/'):]}") for path in known_paths("fsmol/")
                  if path != "fsmol/train_full.csv.gz")  # derived: the fsmol-train-full entry
    return DatasetInfo(
        name="fsmol", kind="fsmol", files=files,
        license="CC BY-SA 3.0 (data); FS-Mol code is MIT",
        citation=_FSMOL_CITATION,
        description=("FS-Mol few-shot assays (binary activity per ChEMBL assay), official train/valid/test "
                     "split. Checksums are known for all 157 test tasks, 39 of 40 valid tasks and a 1-in-20 "
                     "sample of the 4,938 train tasks; place the full upstream download in <data>/fsmol/ "
                     "to use every train task."),
        options={"folder": "fsmol"},
    )


def _fsmol_train_full() -> DatasetInfo:
    path = "fsmol/train_full.csv.gz"
    recipe = ("graphmeta data build fsmol-train-full --source <FS-Mol datasets/train folder> (FS-Mol's download: "
              "https://github.com/microsoft/FS-Mol#data)")
    return DatasetInfo(
        name="fsmol-train-full", kind="task-table",
        files=(RemoteFile(path=path, url="", sha256=known_sha256(path), recipe=recipe),),
        license="CC BY-SA 3.0 (FS-Mol data)", citation=_FSMOL_CITATION,
        description=("FS-Mol's 4,935 training assays as one task table (412,402 rows: task, smiles, active, "
                     "regression, log_regression, relation, assay_type), task group 'train'"),
        options={"task_column": "task", "smiles_column": "smiles", "label_column": "active", "task_group": "train"},
    )


def _moses() -> DatasetInfo:
    files = tuple(_file(f"pretrain/moses_{split}.csv.gz", _MOSES_WHEEL, "zip",
                        member=f"moses/dataset/data/{split}.csv.gz") for split in ("train", "test"))
    return DatasetInfo(
        name="moses", kind="corpus", files=files, license="MIT (Insilico Medicine, MOSES); molecules from ZINC15",
        citation=("Polykovskiy et al., Molecular Sets (MOSES): A Benchmarking Platform for Molecular Generation "
                  "Models, Frontiers in Pharmacology 2020"),
        description="MOSES: 1,760,737 drug-like ZINC molecules (train 1,584,663 + test 176,074), unlabelled corpus",
        options={"smiles_column": "SMILES"},
    )


def _build_registry() -> dict[str, DatasetInfo]:
    entries = [
        _moleculenet("tox21", "tox21.csv", "binary", "Tox21: 7,831 molecules x 12 toxicity assays (embedded default)"),
        _moleculenet("sider", "sider.csv", "binary", "SIDER: 1,427 drugs x 27 side-effect classes"),
        _moleculenet("muv", "muv.csv", "binary", "MUV: 93,087 molecules x 17 virtual-screening targets", gz=True),
        _moleculenet("toxcast", "toxcast.csv", "binary", "ToxCast: 8,576 molecules x 617 assays", gz=True),
        _moleculenet("clintox", "clintox.csv", "binary", "ClinTox: 1,478 drugs, FDA approval and clinical toxicity"),
        _moleculenet("bbbp", "bbbp.csv", "binary", "BBBP: 2,039 molecules, blood-brain barrier penetration"),
        _moleculenet("bace", "bace.csv", "binary", "BACE: 1,513 inhibitors of human beta-secretase 1",
                     smiles_column="mol"),
        _moleculenet("hiv", "hiv.csv", "binary", "HIV: 41,127 molecules, HIV replication inhibition", gz=True),
        _moleculenet("esol", "delaney.csv", "regression", "ESOL (Delaney): log solubility in mol/L, 1,128 molecules"),
        _moleculenet("freesolv", "freesolv.csv", "regression", "FreeSolv: hydration free energy (kcal/mol), 642 molecules"),
        _moleculenet("lipophilicity", "lipo.csv", "regression", "Lipophilicity: logD at pH 7.4, 4,200 molecules"),
        _fsmol(),
        _fsmol_train_full(),
        _moses(),
        _tu("COIL-DEL", "COIL-DEL: 3,900 graphs, 100 object classes"),
        _tu("Letter-high", "Letter-high: 2,250 letter drawings, 15 classes"),
        _tu("ENZYMES", "ENZYMES: 600 protein tertiary structures, 6 EC classes"),
        _tu("IMDB-BINARY", "IMDB-BINARY: 1,000 ego-networks, 2 genres"),
        _tu("IMDB-MULTI", "IMDB-MULTI: 1,500 ego-networks, 3 genres"),
        _tu("PROTEINS", "PROTEINS: 1,113 proteins, enzyme or not"),
        _tu("MUTAG", "MUTAG: 188 nitroaromatic compounds, mutagenic or not"),
        DatasetInfo(
            name="TRIANGLES", kind="tu-split-zips",
            files=tuple(_file(p, f"{_TRIANGLES}/{p.split('/')[-1]}") for p in known_paths("tu/TRIANGLES/")),
            license="ECL-2.0 (bknyaz/graph_attention_pool repository)",
            citation=("Knyazev, Taylor, Amer, Understanding Attention and Generalization in Graph Neural "
                      "Networks, NeurIPS 2019"),
            description="TRIANGLES: 45,000 random graphs, class = number of triangles (1-10), train/val/test zips",
            options={"folder": "tu/TRIANGLES"},
        ),
        _gin("ENZYMES-fewshot", "ENZYMES", "ENZYMES in GSM's GIN text format with its 4|2 class split"),
        _gin("Letter-high-fewshot", "Letter_high", "Letter-high in GSM's GIN text format with its 11|4 class split"),
        _gin("TRIANGLES-fewshot", "TRIANGLES", "TRIANGLES subset (2,010 graphs) in GSM's GIN text format, 7|3 class split"),
    ]
    return {entry.name.lower(): entry for entry in entries}


REGISTRY: dict[str, DatasetInfo] = _build_registry()


def get_info(name: str) -> DatasetInfo:
    """Registry entry for ``name`` (case-insensitive); ``KeyError`` listing the known names otherwise."""
    try:
        return REGISTRY[name.lower()]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}") from None


def list_datasets() -> list[str]:
    """Names of all registered datasets."""
    return [info.name for info in REGISTRY.values()]
