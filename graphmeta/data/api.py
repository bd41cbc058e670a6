"""``load_dataset`` and ``load_csv``: the two ways users get a :class:`TaskCollection`.

``load_dataset(name)`` resolves a registered dataset's files in the data directory (``GRAPHMETA_DATA``),
falls back to the embedded copy (Tox21) and otherwise downloads with checksum verification; the
featurized result is cached on disk, keyed by the files' sha256, the loader and featurizer versions and
the options, so the second load parses nothing.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from graphmeta.data.cache import cached_collection
from graphmeta.data.featurize import MoleculeFeaturizer, Sanitize
from graphmeta.data.graphs import GraphStore
from graphmeta.data.paths import data_dir, embedded_dir
from graphmeta.data.registry import DatasetInfo, get_info
from graphmeta.data.tasks import SkipReport, SourceInfo, TaskCollection, TaskLabels

__all__ = ["load_dataset", "load_csv", "load_task_table", "EMBEDDED_DATASETS"]

#: Datasets shipped with graphmeta (gzipped under ``datasets/``), usable with no data directory.
EMBEDDED_DATASETS = ("tox21",)
_TRIANGLES_SPLITS = ("train", "val", "test")


def _file_key(path: Path, what: str, loader: str, featurizer: MoleculeFeaturizer, **options: Any) -> dict[str, Any]:
    """The cache key of a user's file: its name and sha256, the loader's version, the featurizer and the options
    (``FileNotFoundError`` naming ``what`` when the file is not there)."""
    from graphmeta.data.download import sha256_file

    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return {"name": path.name, "loader": loader, "sha256": sha256_file(path), "featurizer": featurizer.cache_key,
            **options}


def load_csv(
    path: str | os.PathLike,
    smiles_column: str | None = None,
    target_columns: Sequence[str] | None = None,
    task_type: Literal["auto", "binary", "regression"] = "auto",
    *,
    featurizer: MoleculeFeaturizer | None = None,
    sanitize: Sanitize = "strict",
    on_invalid: Literal["skip", "raise"] = "skip",
    cache: bool | str | os.PathLike = True,
    mmap: bool = True,
    progress: bool = True,
) -> TaskCollection:
    """Loads any CSV of SMILES and labels (like chemprop's ``--smiles-columns``/``--target-columns``).

    See :func:`graphmeta.data.loaders.csv.read_molecule_csv` for the parsing rules; results are cached by
    the file's sha256 and the options; ``mmap`` as for :func:`load_dataset`. ``sanitize="strict"`` (the default)
    treats a SMILES failing RDKit's valence check as invalid (skipped and counted, or raised with
    ``on_invalid="raise"``); ``"lenient"`` keeps such molecules and lists them in ``collection.notes``. It replaces
    the ``featurizer``'s own setting.
    """
    from graphmeta.data.loaders.csv import LOADER_VERSION, read_molecule_csv

    path = Path(path)
    featurizer = (featurizer or MoleculeFeaturizer()).with_sanitize(sanitize)
    key = _file_key(path, "CSV file", LOADER_VERSION, featurizer, smiles_column=smiles_column,
                    target_columns=list(target_columns) if target_columns else None, task_type=task_type,
                    on_invalid=on_invalid)
    return cached_collection(key, lambda: read_molecule_csv(
        path, smiles_column, target_columns, task_type, featurizer=featurizer, sanitize=sanitize,
        on_invalid=on_invalid, progress=progress), cache, mmap)


def load_task_table(
    path: str | os.PathLike,
    task_column: str = "task",
    smiles_column: str | None = None,
    label_column: str | None = None,
    task_type: Literal["auto", "binary", "regression"] = "auto",
    *,
    featurizer: MoleculeFeaturizer | None = None,
    sanitize: Sanitize = "strict",
    on_invalid: Literal["skip", "raise"] = "skip",
    cache: bool | str | os.PathLike = True,
    mmap: bool = True,
    progress: bool = True,
    n_jobs: int | None = -1,
) -> TaskCollection:
    """Loads a long-format task table (one row per task x molecule: a ChEMBL or in-house assay export) from CSV,
    gzipped CSV or Parquet: one task per distinct ``task_column`` value, one graph per distinct SMILES.

    See :func:`graphmeta.data.loaders.task_table.read_task_table` for the arguments and the rules (duplicates,
    conflicts, missing labels and invalid SMILES are counted in ``collection.skipped``, never dropped silently);
    results are cached by the file's sha256 and the options; ``mmap`` as for :func:`load_dataset`; ``sanitize`` as
    for :func:`load_csv` (default ``"strict"``).

    Example:
        >>> assays = graphmeta.load_task_table("chembl_export.csv.gz", task_column="assay_id",
        ...                                    smiles_column="canonical_smiles", label_column="active")
    """
    from graphmeta.data.loaders.task_table import LOADER_VERSION, read_task_table

    path = Path(path)
    featurizer = (featurizer or MoleculeFeaturizer()).with_sanitize(sanitize)
    key = _file_key(path, "task table", LOADER_VERSION, featurizer, task_column=task_column,
                    smiles_column=smiles_column, label_column=label_column, task_type=task_type,
                    on_invalid=on_invalid)
    return cached_collection(key, lambda: read_task_table(
        path, task_column, smiles_column, label_column, task_type, featurizer=featurizer, sanitize=sanitize,
        on_invalid=on_invalid, progress=progress, n_jobs=n_jobs), cache, mmap)


def load_dataset(
    name: str,
    *,
    data_dir_override: str | os.PathLike | None = None,
    download: bool = True,
    cache: bool | str | os.PathLike = True,
    mmap: bool = True,
    featurizer: MoleculeFeaturizer | None = None,
    sanitize: Sanitize | None = None,
    progress: bool = True,
    **options: Any,
) -> TaskCollection:
    """Loads a registered dataset (see :func:`graphmeta.list_datasets`) as a :class:`TaskCollection`.

    Args:
        name: dataset name, case-insensitive (``"tox21"``, ``"fsmol"``, ``"ENZYMES"``, ``"TRIANGLES"``...).
        data_dir_override: raw-data folder (default ``$GRAPHMETA_DATA`` or the user cache).
        download: fetch missing files (checksum-verified); if ``False`` a missing file raises
            :class:`~graphmeta.data.download.DatasetNotFoundError`.
        cache: cache the featurized result (``True``: default cache dir; a path; ``False``: no cache).
        mmap: a cached result's graphs are memory-mapped from the cache files (default), so that only the
            graphs a meta-batch gathers are read; ``False`` reads them all into memory.
        featurizer: molecule featurizer (molecular datasets only).
        sanitize: ``"strict"`` or ``"lenient"`` (molecular datasets only; replaces the featurizer's setting);
            ``None``: the featurizer's, lenient by default: a few molecules of the registered files (metal complexes
            such as Tox21's 8 aluminium compounds) fail RDKit's valence check. Molecules kept only by lenient
            sanitization are listed in ``collection.notes`` and named in a
            :class:`~graphmeta.data.featurize.LenientSanitizationWarning` at each load; ``"strict"`` skips them
            (counted in ``collection.skipped``).
        progress: progress bars for downloads and featurization.
        **options: dataset-specific: ``splits=("train", "valid", "test")`` for FS-Mol;
            ``split="all" | "train" | "val" | "test"`` for TRIANGLES; ``on_invalid`` for CSV datasets.

    Example:
        >>> import graphmeta
        >>> tox21 = graphmeta.load_dataset("tox21")  # the embedded copy: no download
        >>> tox21.n_tasks, tox21.task_names[0]
        (12, 'NR-AR')
        >>> fsmol = graphmeta.load_dataset("fsmol", featurizer=graphmeta.MoleculeFeaturizer(fingerprint_bits=2048))
    """
    info = get_info(name)
    root = data_dir(data_dir_override)
    featurizer = (featurizer or MoleculeFeaturizer()).with_sanitize(sanitize)
    if info.kind == "corpus":
        raise TypeError(f"{info.name} is an unlabelled molecule corpus, not a task collection: featurize it with "
                        f"graphmeta.data.corpus.build_corpus([{info.name!r}]) or `graphmeta data corpus "
                        f"{info.name}`, and pretrain on it")
    loader = {"moleculenet": _load_moleculenet, "fsmol": _load_fsmol, "tu": _load_tu,
              "tu-split-zips": _load_triangles, "gin": _load_gin, "task-table": _load_task_table}[info.kind]
    return loader(info, root, download=download, cache=cache, mmap=mmap, featurizer=featurizer, progress=progress,
                  **options)


def _source(info: DatasetInfo, files: dict[str, str]) -> SourceInfo:
    url = info.files[0].url.rsplit("/", 1)[0] if info.files else ""
    return SourceInfo(name=info.name, files=files, url=url, license=info.license, citation=info.citation)


def _check_options(info: DatasetInfo, options: dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"load_dataset({info.name!r}) got unknown option(s) {unknown}; allowed: {list(allowed)}")


def _resolve_embedded(info: DatasetInfo, root: Path, download: bool, progress: bool) -> Path:
    """Local path of a single-file dataset: data dir first, then the embedded copy, then a download."""
    from graphmeta.data.download import ChecksumError, ensure_files, sha256_stream

    remote = info.files[0]
    local = root / remote.path
    embedded = embedded_dir()
    if not local.is_file() and info.name.lower() in EMBEDDED_DATASETS and embedded is not None:
        packed = embedded / (Path(remote.path).name + ".gz")
        with gzip.open(packed, "rb") as handle:
            actual = sha256_stream(handle)
        if actual != remote.sha256:
            raise ChecksumError(f"embedded dataset {packed} is corrupt: sha256 {actual} != expected {remote.sha256}")
        return packed
    return ensure_files([remote], root, download=download, progress=progress)[remote.path]


def _load_moleculenet(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
                      featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    from graphmeta.data.loaders.csv import LOADER_VERSION, read_molecule_csv

    _check_options(info, options, ["on_invalid"])
    on_invalid = options.get("on_invalid", "skip")
    path = _resolve_embedded(info, root, download, progress)
    remote = info.files[0]
    key = {"name": info.name, "loader": LOADER_VERSION, "sha256": remote.sha256, "featurizer": featurizer.cache_key,
           "on_invalid": on_invalid}

    def build() -> TaskCollection:
        return read_molecule_csv(
            path, info.options["smiles_column"], None, info.options["task_type"], name=info.name,
            featurizer=featurizer, sanitize=featurizer.sanitize, on_invalid=on_invalid, progress=progress,
            source=_source(info, {remote.path: remote.sha256}))

    return cached_collection(key, build, cache, mmap)


def _load_fsmol(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
                featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    from graphmeta.data.download import ensure_files, sha256_file
    from graphmeta.data.loaders.fsmol import load_fsmol

    _check_options(info, options, ["splits"])
    splits = tuple(options.get("splits", ("train", "valid", "test")))
    bad = [s for s in splits if s not in ("train", "valid", "test")]
    if bad:
        raise ValueError(f"unknown FS-Mol split(s) {bad}; use 'train', 'valid', 'test'")
    folder = root / info.options["folder"]
    known = {f.path: f for f in info.files}
    task_files: dict[str, list[Path]] = {}
    hashes: dict[str, str] = {}
    for split in splits:
        local = sorted((folder / split).glob("*.jsonl.gz")) if (folder / split).is_dir() else []
        if not local:  # nothing here: fetch the tasks whose checksums graphmeta knows
            wanted = [f for p, f in known.items() if p.startswith(f"fsmol/{split}/")]
            local = sorted(ensure_files(wanted, root, download=download, progress=progress).values())
        else:  # verify what we know, hash the rest for the cache key
            ensure_files([known[p] for p in (f"fsmol/{split}/{f.name}" for f in local) if p in known], root,
                         download=False, progress=progress)
        task_files[split] = local
        for path in local:
            rel = f"fsmol/{split}/{path.name}"
            hashes[rel] = known[rel].sha256 if rel in known else sha256_file(path)
    key = {"name": "fsmol", "loader": "fsmol-1", "files": hashes, "featurizer": featurizer.cache_key,
           "splits": list(splits)}

    def build() -> TaskCollection:
        collection = load_fsmol(folder, splits, featurizer=featurizer, progress=progress, task_files=task_files)
        collection.source = _source(info, hashes)
        return collection

    return cached_collection(key, build, cache, mmap)


def _load_task_table(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
                     featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    """A registered task table; all its tasks form the task group ``info.options["task_group"]`` when given."""
    from graphmeta.data.download import ensure_files
    from graphmeta.data.loaders.task_table import LOADER_VERSION, read_task_table

    _check_options(info, options, ["on_invalid"])
    on_invalid = options.get("on_invalid", "skip")
    remote = info.files[0]
    path = ensure_files([remote], root, download=download, progress=progress)[remote.path]
    opts = info.options
    key = {"name": info.name, "loader": LOADER_VERSION, "sha256": remote.sha256, "featurizer": featurizer.cache_key,
           "on_invalid": on_invalid}

    def build() -> TaskCollection:
        collection = read_task_table(path, opts["task_column"], opts["smiles_column"], opts["label_column"],
                                     name=info.name, featurizer=featurizer, sanitize=featurizer.sanitize,
                                     on_invalid=on_invalid, progress=progress,
                                     source=_source(info, {remote.path: remote.sha256}))
        if opts.get("task_group"):
            collection.task_groups = {opts["task_group"]: list(range(collection.n_tasks))}
        return collection

    return cached_collection(key, build, cache, mmap)


def _load_tu(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
             featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    from graphmeta.data.download import ensure_files
    from graphmeta.data.loaders.tu import load_tu_folder

    _check_options(info, options, [])
    ensure_files(info.files, root, download=download, progress=progress)
    key = {"name": info.name, "loader": "tu-1", "files": {f.path: f.sha256 for f in info.files}}

    def build() -> TaskCollection:
        collection = load_tu_folder(root / info.options["folder"], info.name)
        collection.source = _source(info, {f.path: f.sha256 for f in info.files})
        return collection

    return cached_collection(key, build, cache, mmap)


def _load_triangles(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
                    featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    """TRIANGLES from its three upstream zips; ``split="all"`` concatenates train, val, test in that order."""
    from graphmeta.data.download import ensure_files
    from graphmeta.data.loaders.tu import load_tu_zip

    _check_options(info, options, ["split"])
    split = options.get("split", "all")
    if split not in ("all", *_TRIANGLES_SPLITS):
        raise ValueError(f"TRIANGLES split must be 'all', 'train', 'val' or 'test', got {split!r}")
    wanted = _TRIANGLES_SPLITS if split == "all" else (split,)
    files = [next(f for f in info.files if f.path.endswith(f"_{s}.zip")) for s in wanted]  # in split order
    paths = ensure_files(files, root, download=download, progress=progress)
    key = {"name": f"{info.name}-{split}", "loader": "tu-1", "files": {f.path: f.sha256 for f in files}}

    def build() -> TaskCollection:
        parts = [load_tu_zip(paths[f.path]) for f in files]
        collection = parts[0] if len(parts) == 1 else _concat_multiclass(parts, info.name)
        collection.name = info.name if split == "all" else f"{info.name}-{split}"
        collection.source = _source(info, {f.path: f.sha256 for f in files})
        return collection

    return cached_collection(key, build, cache, mmap)


def _concat_multiclass(parts: Sequence[TaskCollection], name: str) -> TaskCollection:
    graphs = GraphStore.concat([p.graphs for p in parts])
    offsets = [0]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + part.n_graphs)
    ids = torch.cat([p.labels.task(0)[0] + off for p, off in zip(parts, offsets)])
    values = torch.cat([p.labels.task(0)[1] for p in parts])
    skipped = SkipReport()
    for part in parts:
        skipped.extend(part.skipped)
    return TaskCollection(name=name, graphs=graphs, labels=TaskLabels.from_tasks([(ids, values)], len(graphs)),
                          task_names=list(parts[0].task_names), task_type="multiclass", skipped=skipped)


def _load_gin(info: DatasetInfo, root: Path, *, download: bool, cache: Any, mmap: bool,
              featurizer: MoleculeFeaturizer, progress: bool, **options: Any) -> TaskCollection:
    from graphmeta.data.download import ensure_files
    from graphmeta.data.loaders.tu import load_fewshot_class_split, load_gin_txt

    _check_options(info, options, [])
    paths = ensure_files(info.files, root, download=download, progress=progress)
    folder = root / info.options["folder"]
    key = {"name": info.name, "loader": "gin-1", "files": {f.path: f.sha256 for f in info.files}}

    def build() -> TaskCollection:
        collection = load_gin_txt(paths[f"{info.options['folder']}/{info.options['file']}"], info.name)
        collection.task_groups = {k: list(v) for k, v in load_fewshot_class_split(folder).items()}
        collection.source = _source(info, {f.path: f.sha256 for f in info.files})
        return collection

    return cached_collection(key, build, cache, mmap)

