"""Unlabelled molecule corpora for pretraining, featurized once into a memory-mapped folder.

A pretraining corpus is millions of SMILES (MOSES: 1.76M drug-like ZINC molecules; FS-Mol's 207k training
molecules). :func:`build_corpus` featurizes it in shards of ``shard_size`` molecules, each shard split over worker
processes and written atomically as soon as it is done, so an interrupted build resumes at the first missing shard.
When every shard is there, the shards are merged into one compact store (:meth:`GraphStore.compact`: a molecule
takes a few hundred bytes), molecules are de-duplicated by canonical SMILES (first source wins) and molecules of
the evaluation sets named in ``exclude`` (FS-Mol's validation and test assays by default) are removed, matched by
canonical SMILES, so pretraining never sees a molecule a benchmark scores. The folder then holds::

    graphs/          the merged GraphStore (memory-mapped when loaded)
    smiles.txt       the canonical SMILES of each graph, one per line
    corpus.json      counts (per source, invalid, duplicates, excluded), featurizer, molecules/s, bytes

:func:`load_corpus_dir` opens it as a :class:`~graphmeta.pretrain.MoleculeCorpus`. Nothing is dropped silently:
invalid SMILES are counted and the first ones listed in ``corpus.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphmeta.safe_write import atomic_directory, atomic_write_json
from graphmeta.data.canonical import canonical_smiles, fsmol_evaluation_molecules
from graphmeta.data.featurize import MoleculeFeaturizer
from graphmeta.data.graphs import GraphStore
from graphmeta.parallel import chunk_bounds, fork_map, resolve_workers

__all__ = ["CORPUS_VERSION", "DEFAULT_SOURCES", "CorpusSource", "corpus_source", "fsmol_evaluation_smiles", "build_corpus", "load_corpus_dir", "default_corpus_dir"]

#: Bumped when the folder layout or the merge rules change (a new default folder is then built).
CORPUS_VERSION = "1"
#: The corpus the shipped encoders are pretrained on: MOSES plus FS-Mol's training molecules.
DEFAULT_SOURCES: tuple[str, ...] = ("moses", "fsmol-train-full")
_RECORD, _SMILES, _GRAPHS, _SHARDS = "corpus.json", "smiles.txt", "graphs", "shards"
_MAX_LISTED = 20  # invalid SMILES listed by name in corpus.json


@dataclass
class CorpusSource:
    """SMILES of one source, and the files (with sha256) they were read from."""

    name: str
    smiles: list[str]
    files: dict[str, str]


def _read_smiles_column(path: Path, column: str | None) -> list[str]:
    import pandas as pd

    from graphmeta.data.loaders.csv import CSVFormatError, _pick_smiles_column

    header = pd.read_csv(path, nrows=0, compression="infer").columns.tolist()
    column = _pick_smiles_column(header, column, path.name)
    try:
        values = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False, na_filter=False,
                             compression="infer")[column]
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError) as err:
        raise CSVFormatError(f"{path.name}: cannot be read as CSV ({type(err).__name__}: {err})") from err
    return [s.strip() for s in values.tolist()]


def corpus_source(name: str, data_dir: str | os.PathLike | None = None, download: bool = True,
                  progress: bool = True) -> CorpusSource:
    """The SMILES of a source: a registered corpus (``"moses"``), task table (``"fsmol-train-full"``: its distinct
    molecules) or MoleculeNet dataset, or a CSV path (its SMILES column). Labels are never read."""
    from graphmeta.data.download import ensure_files, sha256_file
    from graphmeta.data.paths import data_dir as resolve_data_dir
    from graphmeta.data.registry import get_info

    path = Path(name)
    if name.lower().endswith((".csv", ".csv.gz", ".smi")) and path.is_file():
        return CorpusSource(name=path.name, smiles=_read_smiles_column(path, None), files={path.name: sha256_file(path)})
    info = get_info(name)
    if info.kind not in ("corpus", "task-table", "moleculenet"):
        raise ValueError(f"{info.name} is not a molecule source (kind {info.kind!r}); use a corpus, a task table, a "
                         f"MoleculeNet dataset or a CSV of SMILES")
    paths = ensure_files(info.files, resolve_data_dir(data_dir), download=download, progress=progress)
    smiles: list[str] = []
    for remote in info.files:
        smiles.extend(_read_smiles_column(paths[remote.path], info.options.get("smiles_column")))
    if info.kind == "task-table":
        smiles = list(dict.fromkeys(smiles))  # one entry per molecule, in order of first appearance
    return CorpusSource(name=info.name, smiles=smiles, files={f.path: f.sha256 for f in info.files})


def fsmol_evaluation_smiles(data_dir: str | os.PathLike | None = None, download: bool = True,
                            progress: bool = True) -> set[str]:
    """Canonical SMILES of every molecule of FS-Mol's validation and test assays (what pretraining must not see),
    read through :func:`graphmeta.load_dataset` (a cached FS-Mol collection is reused)."""
    from graphmeta.data.api import load_dataset

    return fsmol_evaluation_molecules(load_dataset("fsmol", data_dir_override=data_dir, download=download,
                                                   progress=progress))


def _featurize_chunk(featurizer: MoleculeFeaturizer, smiles: Sequence[str]) -> tuple[GraphStore, dict[int, str],
                                                                                    list[str]]:
    """One worker's part of a shard: its compact graphs (small to send back), invalid entries, canonical SMILES."""
    feats, invalid = featurizer.featurize_many(smiles)
    canonical = canonical_smiles([s for i, s in enumerate(smiles) if i not in invalid])
    return GraphStore.from_featurized(feats).compact(), invalid, canonical


def _write_shard(folder: Path, featurizer: MoleculeFeaturizer, smiles: Sequence[str], start: int, workers: int) -> None:
    """Featurizes ``smiles`` (rows ``start...`` of the corpus) over ``workers`` processes into shard ``folder``."""
    bounds = chunk_bounds(len(smiles), workers)
    parts = fork_map(lambda ab: _featurize_chunk(featurizer, smiles[ab[0]:ab[1]]), bounds, workers)
    store = GraphStore.concat([p[0] for p in parts])
    canonical = [c for p in parts for c in p[2]]
    invalid = {start + a + i: reason for (a, _), p in zip(bounds, parts) for i, reason in p[1].items()}

    def write(tmp: Path) -> None:
        store.write_folder(tmp / _GRAPHS)
        (tmp / _SMILES).write_text("".join(f"{c}\n" for c in canonical))
        (tmp / "invalid.json").write_text(json.dumps({str(i): r for i, r in sorted(invalid.items())}))

    atomic_directory(folder, write)


def default_corpus_dir(sources: Sequence[CorpusSource], featurizer: MoleculeFeaturizer, exclude: Sequence[str],
                       cache: str | os.PathLike | None = None) -> Path:
    """The cache folder of a corpus: keyed by its sources' files, the featurizer and the exclusions."""
    from graphmeta.data.cache import cache_path

    key = {"name": "corpus-" + "+".join(s.name for s in sources), "corpus": CORPUS_VERSION,
           "files": {k: v for s in sources for k, v in s.files.items()}, "featurizer": featurizer.cache_key,
           "exclude": sorted(exclude)}
    return cache_path(key, cache)


def build_corpus(
    sources: Sequence[str] = DEFAULT_SOURCES,
    out: str | os.PathLike | None = None,
    *,
    featurizer: MoleculeFeaturizer | None = None,
    exclude: Sequence[str] = ("fsmol",),
    shard_size: int = 100_000,
    n_jobs: int | None = -1,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    limit: int | None = None,
) -> Path:
    """Featurizes the molecules of ``sources`` into a corpus folder (resuming a partial build); returns the folder.

    Args:
        sources: registered names or CSV paths (see :func:`corpus_source`), in priority order for duplicates.
        out: the corpus folder (default: a folder in the graphmeta cache keyed by sources, featurizer, exclusions).
        featurizer: molecule featurizer (default :class:`MoleculeFeaturizer`; fingerprints are not needed to
            pretrain a GNN, so a plain one keeps the corpus small).
        exclude: evaluation sets whose molecules are removed (``"fsmol"``: FS-Mol's validation and test assays);
            ``()`` keeps everything.
        shard_size: molecules per shard (the unit of resumption).
        n_jobs: worker processes (``-1``: every CPU).
        data_dir, download, progress: as for :func:`graphmeta.load_dataset`.
        limit: featurize only the first ``limit`` molecules of each source (smoke tests; recorded).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    unknown = sorted(set(exclude) - {"fsmol"})
    if unknown:
        raise ValueError(f"unknown exclusion(s) {unknown}; graphmeta can exclude 'fsmol' (its valid/test molecules)")
    featurizer = featurizer or MoleculeFeaturizer()
    loaded = [corpus_source(s, data_dir, download, progress) for s in sources]
    if limit is not None:
        loaded = [CorpusSource(s.name, s.smiles[:limit], s.files) for s in loaded]
    folder = Path(out) if out is not None else default_corpus_dir(loaded, featurizer, exclude)
    if (folder / _RECORD).is_file():
        return folder
    smiles = [s for source in loaded for s in source.smiles]
    workers = resolve_workers(n_jobs)
    shards = folder / _SHARDS
    bounds = [(a, min(a + shard_size, len(smiles))) for a in range(0, len(smiles), shard_size)]
    done = [(shards / f"{i:05d}" / _SMILES).is_file() for i in range(len(bounds))]
    bar = tqdm(total=len(smiles), initial=sum(b - a for (a, b), d in zip(bounds, done) if d), unit="mol",
               desc=f"featurizing corpus ({workers} workers)", disable=not progress, smoothing=0.1)
    start = time.perf_counter()
    computed = 0
    for i, ((a, b), finished) in enumerate(zip(bounds, done)):
        if finished:
            continue
        _write_shard(shards / f"{i:05d}", featurizer, smiles[a:b], a, workers)
        computed += b - a
        bar.update(b - a)
    bar.close()
    seconds = time.perf_counter() - start
    excluded = fsmol_evaluation_smiles(data_dir, download, progress) if exclude else set()
    record = _merge(folder, loaded, len(bounds), excluded, featurizer)
    record.update({"exclude": list(exclude), "shard_size": shard_size, "workers": workers, "limit": limit,
                   "featurize_seconds_this_run": round(seconds, 2), "molecules_featurized_this_run": computed,
                   "molecules_per_second": round(computed / seconds, 1) if computed else None})
    atomic_write_json(record, folder / _RECORD)
    shutil.rmtree(shards, ignore_errors=True)
    return folder


def _merge(folder: Path, sources: Sequence[CorpusSource], n_shards: int, excluded: set[str],
           featurizer: MoleculeFeaturizer) -> dict[str, Any]:
    """Merges the shards into ``graphs/`` + ``smiles.txt``: first occurrence of a canonical SMILES kept, excluded
    molecules dropped; returns the counts for ``corpus.json``."""
    stores, canonical, invalid = [], [], {}
    for i in range(n_shards):
        shard = folder / _SHARDS / f"{i:05d}"
        stores.append(GraphStore.load(shard / _GRAPHS))
        canonical.extend((shard / _SMILES).read_text().splitlines())
        invalid.update(json.loads((shard / "invalid.json").read_text()))
    source_of_row = np.repeat(np.arange(len(sources)), [len(s.smiles) for s in sources])
    valid_rows = np.setdiff1d(np.arange(len(source_of_row)), np.array([int(k) for k in invalid], dtype=np.int64))
    source_of_graph = source_of_row[valid_rows]
    seen: set[str] = set()
    keep = np.zeros(len(canonical), dtype=bool)
    duplicates = np.zeros(len(sources), dtype=np.int64)
    dropped = np.zeros(len(sources), dtype=np.int64)
    for g, c in enumerate(canonical):
        if c in excluded:
            dropped[source_of_graph[g]] += 1
        elif c in seen:
            duplicates[source_of_graph[g]] += 1
        else:
            seen.add(c)
            keep[g] = True
    merged = GraphStore.concat(stores).subset(torch.from_numpy(np.flatnonzero(keep))).compact()
    kept_smiles = [c for c, k in zip(canonical, keep) if k]

    def write(tmp: Path) -> None:
        merged.write_folder(tmp / _GRAPHS)
        (tmp / _SMILES).write_text("".join(f"{c}\n" for c in kept_smiles))

    staging = folder.with_name(folder.name + ".merged")
    atomic_directory(staging, write)
    for name in (_GRAPHS, _SMILES):
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staging / name, target)
    shutil.rmtree(staging)
    invalid_by_source = np.bincount(source_of_row[[int(k) for k in invalid]], minlength=len(sources)) if invalid \
        else np.zeros(len(sources), dtype=np.int64)
    kept_by_source = np.bincount(source_of_graph[keep], minlength=len(sources))
    size = sum(p.stat().st_size for p in (folder / _GRAPHS).iterdir())
    return {
        "kind": "graphmeta-corpus", "version": CORPUS_VERSION, "featurizer": featurizer.cache_key,
        "molecules": int(keep.sum()),
        "sources": {s.name: {"rows": len(s.smiles), "files": s.files, "invalid": int(invalid_by_source[k]),
                             "duplicates": int(duplicates[k]), "excluded_evaluation": int(dropped[k]),
                             "kept": int(kept_by_source[k])} for k, s in enumerate(sources)},
        "invalid": len(invalid), "invalid_first": dict(list(sorted(invalid.items(), key=lambda kv: int(kv[0])))[:_MAX_LISTED]),
        "duplicates": int(duplicates.sum()), "excluded_evaluation": int(dropped.sum()),
        "evaluation_molecules": len(excluded), "graph_bytes": size,
        "bytes_per_molecule": round(size / max(int(keep.sum()), 1), 1),
    }


def load_corpus_dir(path: str | os.PathLike, mmap: bool = True) -> Any:
    """The corpus folder written by :func:`build_corpus` as a :class:`~graphmeta.pretrain.MoleculeCorpus`
    (graphs memory-mapped unless ``mmap=False``)."""
    from graphmeta.data.arrayfiles import ArrayFileError
    from graphmeta.pretrain import MoleculeCorpus

    folder = Path(path)
    record_path = folder / _RECORD
    if not record_path.is_file():
        partial = (folder / _SHARDS).is_dir()
        raise FileNotFoundError(f"{folder} is not a finished corpus folder (no {_RECORD})"
                                + ("; it holds shards of an interrupted build: run the build again to resume"
                                   if partial else ""))
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArrayFileError(f"{record_path} cannot be read ({err})") from None
    if record.get("kind") != "graphmeta-corpus":
        raise ArrayFileError(f"{record_path} does not describe a graphmeta corpus")
    graphs = GraphStore.load(folder / _GRAPHS, mmap=mmap)
    smiles = (folder / _SMILES).read_text().splitlines()
    if len(smiles) != len(graphs):
        raise ArrayFileError(f"{folder / _SMILES} lists {len(smiles)} molecules for {len(graphs)} graphs")
    return MoleculeCorpus(graphs=graphs, smiles=smiles, featurizer=record["featurizer"],
                          sources={k: v["kept"] for k, v in record["sources"].items()},
                          excluded=record["excluded_evaluation"])
