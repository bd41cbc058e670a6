"""Parsers for graph-classification data: the TU Dortmund text format and the GIN text format.

The few-shot graph-classification benchmarks (ENZYMES, Letter-high, TRIANGLES, Reddit, ...) ship either in
the TU format (one folder or zip archive of ``<NAME>_*.txt`` files over all graphs, with 1-based *global*
node ids) or in the text format of the GIN repository (one file, graph after graph, 0-based *local* node
ids). Both are turned into a :class:`~graphmeta.data.tasks.TaskCollection` with one multiclass task named
``"class"`` whose values are the class labels exactly as the source gives them (MUTAG -1/1, ENZYMES 1..6,
TRIANGLES 1..10), so that published few-shot class splits (:func:`load_fewshot_class_split`) refer to the
same ids.

These functions are pure parsers of local files: finding, downloading and caching files is the caller's
business. Parsing is vectorized (pandas' C parser plus numpy), because the big TU files have close to a
million lines. Every structural problem raises :class:`TUFormatError` naming the file (and the line where
one is to blame) instead of producing silently shifted graphs.

Edges are made undirected the same way for every source: exact duplicate ``(row, col)`` pairs are dropped
(the first one is kept; the collection's ``skipped`` report gets one ``"duplicate_edge"`` entry per graph
that lost lines, with their number; IMDB-BINARY/-MULTI list every edge twice in each direction), the reverse of every
edge whose reverse is not listed is added (the early TRIANGLES release lists each edge once), and the
edges of each graph are sorted by ``(row, col)``. Edge labels follow their edges (an added reverse edge
gets the label of the line it reverses). Self-loops are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
import pandas as pd
import torch

from graphmeta.data.download import sha256_file
from graphmeta.data.graphs import GraphStore
from graphmeta.data.tasks import SkipReport, SourceInfo, TaskCollection, TaskLabels

__all__ = ["TUFormatError", "load_tu_folder", "load_tu_zip", "load_gin_txt", "load_fewshot_class_split"]

#: The TU files this module reads (any other ``<NAME>_*.txt``, e.g. ``node_attention``, is ignored).
_TU_PARTS = ("A", "graph_indicator", "graph_labels", "graph_attributes", "node_labels", "node_attributes",
             "edge_labels")
_SPLIT_FILES = ("train_test_classes.json", "main_splits.json")


class TUFormatError(ValueError):
    """A TU or GIN file is malformed; the message names the file (and line) and what is wrong."""


# ------------------------------------------------------------------------------------------------------------
# Reading the raw files (folder or zip)
# ------------------------------------------------------------------------------------------------------------
@dataclass
class _TUFiles:
    """The TU files of one dataset, wherever they live.

    ``labels`` maps each present part (``"A"``, ``"node_labels"``...) to the name used in error messages;
    ``read(part)`` returns the bytes of that part.
    """

    name: str
    labels: dict[str, str]
    read: Callable[[str], bytes]
    source: SourceInfo


def _infer_name(file_names: list[str], where: str) -> str:
    """The dataset name from the only ``<NAME>_A.txt`` among ``file_names``."""
    prefixes = sorted({PurePosixPath(f).name[: -len("_A.txt")] for f in file_names
                       if PurePosixPath(f).name.endswith("_A.txt") and not PurePosixPath(f).name.startswith(".")})
    if len(prefixes) != 1:
        found = ", ".join(prefixes) if prefixes else "none"
        raise FileNotFoundError(f"cannot tell the TU dataset name in {where}: expected one <NAME>_A.txt file, "
                                f"found {found}; pass name=...")
    return prefixes[0]


def _folder_files(folder: Path, name: str | None) -> _TUFiles:
    if not folder.is_dir():
        raise FileNotFoundError(f"TU folder {str(folder)!r} does not exist")
    if name is None:
        name = folder.name
        if not (folder / f"{name}_A.txt").is_file():
            name = _infer_name([p.name for p in folder.iterdir()], f"folder {str(folder)!r}")
    paths = {part: folder / f"{name}_{part}.txt" for part in _TU_PARTS}
    paths = {part: path for part, path in paths.items() if path.is_file()}
    source = SourceInfo(name=name)

    def read(part: str) -> bytes:
        data = paths[part].read_bytes()
        source.files[paths[part].name] = hashlib.sha256(data).hexdigest()
        return data

    return _TUFiles(name=name, labels={part: path.name for part, path in paths.items()}, read=read, source=source)


def _zip_members(archive: zipfile.ZipFile, name: str, zip_label: str) -> dict[str, str]:
    """``{part: member path}`` of the TU files of ``name`` in ``archive`` (members may sit in a subfolder)."""
    members: dict[str, str] = {}
    wanted = {f"{name}_{part}.txt": part for part in _TU_PARTS}
    for info in archive.infolist():
        base = PurePosixPath(info.filename).name
        if info.is_dir() or base not in wanted or info.filename.startswith("__MACOSX/"):
            continue
        part = wanted[base]
        if part in members:
            raise TUFormatError(f"{zip_label}: {base} is present twice ({members[part]} and {info.filename})")
        members[part] = info.filename
    return members


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise FileNotFoundError(f"TU zip archive {str(path)!r} does not exist")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise TUFormatError(f"{path.name}: not a valid zip archive ({err})") from None


def _zip_files(path: Path, archive: zipfile.ZipFile, name: str | None) -> _TUFiles:
    if name is None:
        name = path.stem
        if not _zip_members(archive, name, path.name).get("A"):
            member_names = [i.filename for i in archive.infolist() if not i.filename.startswith("__MACOSX/")]
            name = _infer_name(member_names, f"zip archive {path.name!r}")
    members = _zip_members(archive, name, path.name)
    source = SourceInfo(name=name, files={path.name: sha256_file(path)})

    def read(part: str) -> bytes:
        try:
            return archive.read(members[part])
        except (zipfile.BadZipFile, OSError) as err:  # CRC errors and the like
            raise TUFormatError(f"{path.name}:{members[part]}: cannot be read from the archive ({err})") from None

    return _TUFiles(name=name, labels={part: f"{path.name}:{m}" for part, m in members.items()}, read=read,
                    source=source)


# ------------------------------------------------------------------------------------------------------------
# Parsing comma-separated numeric tables
# ------------------------------------------------------------------------------------------------------------
def _first_bad_value(data: bytes) -> tuple[int, str] | None:
    """``(line, text)`` of the first cell that is not a number (slow path, only used to explain an error)."""
    frame = pd.read_csv(io.BytesIO(data), header=None, sep=",", skipinitialspace=True, dtype=str,
                        na_filter=False, skip_blank_lines=False)
    for column in frame.columns:
        text = frame[column].str.strip()
        bad = pd.to_numeric(text, errors="coerce").isna() & (text != "")
        if bool(bad.any()):
            row = int(np.flatnonzero(bad.to_numpy())[0])
            return row + 1, str(frame[column].iloc[row])
    return None


def _read_table(data: bytes, label: str) -> np.ndarray:
    """A comma-separated numeric text file as a 2-D float64 array, one row per line.

    Trailing blank lines and trailing all-empty columns (lines ending with a comma) are tolerated; a blank
    line in the middle, a missing value or a non-number raise :class:`TUFormatError` with the line number.
    """
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, sep=",", skipinitialspace=True, dtype=np.float64,
                            skip_blank_lines=False, engine="c")
    except pd.errors.EmptyDataError:
        raise TUFormatError(f"{label}: the file is empty") from None
    except pd.errors.ParserError as err:
        raise TUFormatError(f"{label}: {str(err).strip()}") from None
    except ValueError:
        bad = _first_bad_value(data)
        where = f"line {bad[0]}: {bad[1]!r} is not a number" if bad else "a value is not a number"
        raise TUFormatError(f"{label}: {where}") from None
    values = frame.to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    rows_left = len(values) - int(np.argmax(~missing.all(axis=1)[::-1])) if (~missing).any() else 0
    cols_left = values.shape[1] - int(np.argmax(~missing.all(axis=0)[::-1])) if (~missing).any() else 0
    values, missing = values[:rows_left, :cols_left], missing[:rows_left, :cols_left]
    if values.size == 0:
        raise TUFormatError(f"{label}: the file is empty")
    if missing.any():
        line = int(np.flatnonzero(missing.any(axis=1))[0]) + 1
        raise TUFormatError(f"{label}: line {line}: missing value (blank line, empty field or NaN)")
    return values


def _to_int(values: np.ndarray, label: str, what: str) -> np.ndarray:
    """``values`` as int64, or :class:`TUFormatError` naming the first line that holds a non-integer."""
    bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0**53)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise TUFormatError(f"{label}: line {row + 1}: {what} must be integers, found {float(values[row, col])!r}")
    return values.astype(np.int64)


def _read_ints(files: _TUFiles, part: str, what: str, columns: int | None = None) -> np.ndarray:
    label = files.labels[part]
    values = _to_int(_read_table(files.read(part), label), label, what)
    if columns is not None and values.shape[1] != columns:
        raise TUFormatError(f"{label}: expected {columns} value(s) per line, found {values.shape[1]}")
    return values


def _check_rows(values: np.ndarray, expected: int, label: str, what: str) -> None:
    if len(values) != expected:
        raise TUFormatError(f"{label}: {len(values):,} lines, expected one per {what} ({expected:,})")


# ------------------------------------------------------------------------------------------------------------
# Graph structure
# ------------------------------------------------------------------------------------------------------------
def _node_ptr_from_indicator(indicator: np.ndarray, label: str) -> np.ndarray:
    """``node_ptr`` from the 1-based graph id of each node; graphs must be numbered 1..N, nodes contiguous."""
    if indicator[0] != 1:
        raise TUFormatError(f"{label}: line 1: graph ids must start at 1, found {indicator[0]}")
    steps = np.diff(indicator)
    if (steps < 0).any():
        line = int(np.flatnonzero(steps < 0)[0]) + 2
        raise TUFormatError(f"{label}: line {line}: graph ids are not sorted (graph {indicator[line - 1]} after "
                            f"graph {indicator[line - 2]}); the nodes of each graph must be contiguous")
    if (steps > 1).any():
        line = int(np.flatnonzero(steps > 1)[0]) + 2
        raise TUFormatError(f"{label}: line {line}: graph ids jump from {indicator[line - 2]} to "
                            f"{indicator[line - 1]}; every graph must own at least one node")
    counts = np.bincount(indicator - 1)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _check_edges(src: np.ndarray, dst: np.ndarray, node_graph: np.ndarray, label: str) -> None:
    """Node ids in range (0-based ``src``/``dst``) and both ends in the same graph."""
    n = len(node_graph)
    out = (src < 0) | (src >= n) | (dst < 0) | (dst >= n)
    if out.any():
        line = int(np.flatnonzero(out)[0])
        node = src[line] if not 0 <= src[line] < n else dst[line]
        raise TUFormatError(f"{label}: line {line + 1}: node id {node + 1} is out of range 1..{n} "
                            f"(the graph indicator lists {n} nodes)")
    cross = node_graph[src] != node_graph[dst]
    if cross.any():
        line = int(np.flatnonzero(cross)[0])
        raise TUFormatError(f"{label}: line {line + 1}: edge ({src[line] + 1}, {dst[line] + 1}) joins graph "
                            f"{node_graph[src[line]] + 1} and graph {node_graph[dst[line]] + 1}")


@dataclass
class _Edges:
    """Undirected, deduplicated edges: global ``src``/``dst`` sorted by ``(src, dst)``, the input edge each
    one comes from (``origin``), and the input edges dropped as duplicates with the edge they repeat."""

    src: np.ndarray
    dst: np.ndarray
    origin: np.ndarray
    duplicates: np.ndarray
    duplicate_of: np.ndarray


def _undirected(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> _Edges:
    """Deduplicates ``(src, dst)`` pairs (first kept) and adds each missing reverse pair, vectorized."""
    m = len(src)
    forward = src * n_nodes + dst
    _, first, inverse = np.unique(forward, return_index=True, return_inverse=True)
    first_of_each = first[inverse.reshape(-1)]
    duplicates = np.flatnonzero(first_of_each != np.arange(m))
    # Forward pairs come first, so a pair listed in the file keeps its own line (and edge label); a pair
    # present only as the reverse of a line comes from that line.
    keys, index = np.unique(np.concatenate([forward, dst * n_nodes + src]), return_index=True)
    return _Edges(src=keys // max(n_nodes, 1), dst=keys % max(n_nodes, 1), origin=index % max(m, 1),
                  duplicates=duplicates, duplicate_of=first_of_each[duplicates])


def _build_store(edges: _Edges, node_ptr: np.ndarray, node_graph: np.ndarray,
                 node_fields: dict[str, np.ndarray], edge_fields: dict[str, np.ndarray]) -> GraphStore:
    n_graphs = len(node_ptr) - 1
    edge_graph = node_graph[edges.src]
    edge_counts = np.bincount(edge_graph, minlength=n_graphs)
    offset = node_ptr[edge_graph]
    return GraphStore(
        edge_index=np.stack([edges.src - offset, edges.dst - offset]).astype(np.int64),
        node_ptr=node_ptr,
        edge_ptr=np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64),
        node_fields={k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in node_fields.items()},
        edge_fields={k: torch.from_numpy(np.ascontiguousarray(v[edges.origin])) for k, v in edge_fields.items()},
    )


def _class_labels(values: np.ndarray, label: str) -> np.ndarray:
    """One integer class label per graph (a single column), kept as given, as float32."""
    if values.shape[1] != 1:
        raise TUFormatError(f"{label}: expected one class label per line, found {values.shape[1]} values")
    ints = _to_int(values, label, "class labels")[:, 0]
    if np.abs(ints).max() > 2**24:
        raise TUFormatError(f"{label}: class label {ints[np.abs(ints).argmax()]} is too large to store exactly")
    return ints.astype(np.float32)


def _collection(name: str, store: GraphStore, labels: np.ndarray, source: SourceInfo,
                skipped: SkipReport) -> TaskCollection:
    n = len(store)
    task = (torch.arange(n, dtype=torch.long), torch.from_numpy(labels))
    return TaskCollection(name=name, graphs=store, labels=TaskLabels.from_tasks([task], n), task_names=["class"],
                          task_type="multiclass", smiles=None, source=source, skipped=skipped, featurizer=None)


def _report_duplicates(edges: _Edges, src: np.ndarray, node_graph: np.ndarray, file_label: str,
                       line_of: Callable[[int], int], graph_name: Callable[[int], str]) -> SkipReport:
    """One ``"duplicate_edge"`` entry per graph that lost duplicate edge entries (``line_of``: input edge ->
    line number; ``graph_name``: graph index -> how the source names it).

    Per graph rather than per line: IMDB-BINARY alone drops 193,062 lines, and that many report entries
    would cost more memory and cache time than the whole dataset.
    """
    report = SkipReport()
    if not len(edges.duplicates):
        return report
    graph_of_edge = node_graph[src]
    edges_per_graph = np.bincount(graph_of_edge, minlength=int(node_graph.max()) + 1)
    graphs, first, counts = np.unique(graph_of_edge[edges.duplicates], return_index=True, return_counts=True)
    for g, i, count in zip(graphs.tolist(), first.tolist(), counts.tolist()):
        dup, orig = line_of(int(edges.duplicates[i])), line_of(int(edges.duplicate_of[i]))
        report.add("duplicate_edge", f"{file_label}:{graph_name(g)}",
                   f"dropped {count} of its {edges_per_graph[g]} edge entries that repeat an earlier (row, col) "
                   f"pair (first: line {dup} repeats line {orig})")
    return report


# ------------------------------------------------------------------------------------------------------------
# TU format
# ------------------------------------------------------------------------------------------------------------
def _parse_tu(files: _TUFiles) -> TaskCollection:
    for part in ("A", "graph_indicator"):
        if part not in files.labels:
            raise FileNotFoundError(f"TU dataset {files.name!r}: missing {files.name}_{part}.txt")
    indicator_label = files.labels["graph_indicator"]
    indicator = _read_ints(files, "graph_indicator", "graph ids", columns=1)[:, 0]
    node_ptr = _node_ptr_from_indicator(indicator, indicator_label)
    n_nodes, n_graphs = len(indicator), len(node_ptr) - 1
    node_graph = indicator - 1

    label_part = "graph_labels" if "graph_labels" in files.labels else "graph_attributes"
    if label_part not in files.labels:
        raise FileNotFoundError(f"TU dataset {files.name!r}: missing {files.name}_graph_labels.txt "
                                f"(and no {files.name}_graph_attributes.txt to take labels from)")
    raw_labels = _read_table(files.read(label_part), files.labels[label_part])
    _check_rows(raw_labels, n_graphs, files.labels[label_part], f"graph in {indicator_label}")
    labels = _class_labels(raw_labels, files.labels[label_part])

    a_label = files.labels["A"]
    pairs = _read_ints(files, "A", "node ids", columns=2) - 1
    src, dst = pairs[:, 0], pairs[:, 1]
    _check_edges(src, dst, node_graph, a_label)

    node_fields: dict[str, np.ndarray] = {}
    if "node_labels" in files.labels:
        node_fields["x"] = _read_ints(files, "node_labels", "node labels")
        _check_rows(node_fields["x"], n_nodes, files.labels["node_labels"], f"node in {indicator_label}")
    if "node_attributes" in files.labels:
        node_fields["node_attr"] = _read_table(files.read("node_attributes"), files.labels["node_attributes"])
        _check_rows(node_fields["node_attr"], n_nodes, files.labels["node_attributes"], f"node in {indicator_label}")
        node_fields["node_attr"] = node_fields["node_attr"].astype(np.float32)
    edge_fields: dict[str, np.ndarray] = {}
    if "edge_labels" in files.labels:
        edge_fields["edge_attr"] = _read_ints(files, "edge_labels", "edge labels")
        _check_rows(edge_fields["edge_attr"], len(src), files.labels["edge_labels"], f"line of {a_label}")

    edges = _undirected(src, dst, n_nodes)
    store = _build_store(edges, node_ptr, node_graph, node_fields, edge_fields)
    skipped = _report_duplicates(edges, src, node_graph, a_label, lambda i: i + 1, lambda g: f"graph id {g + 1}")
    return _collection(files.name, store, labels, files.source, skipped)


def load_tu_folder(folder: str | os.PathLike, name: str | None = None) -> TaskCollection:
    """Loads a TU-format dataset from a folder of ``<NAME>_*.txt`` files.

    Reads ``<NAME>_A.txt`` and ``<NAME>_graph_indicator.txt`` (required), the class labels from
    ``<NAME>_graph_labels.txt`` (or, when absent, ``<NAME>_graph_attributes.txt``, as TRIANGLES has them),
    and the optional ``_node_labels`` (-> node field ``x``, int64 ``[n, k]``), ``_node_attributes``
    (-> ``node_attr``, float32 ``[n, d]``) and ``_edge_labels`` (-> edge field ``edge_attr``, int64).

    Args:
        folder: the dataset folder.
        name: the ``<NAME>`` prefix of the files; defaults to the folder name (or, if no
            ``<folder name>_A.txt`` exists, to the prefix of the only ``*_A.txt`` file).

    Returns:
        A multiclass :class:`TaskCollection` with one task ``"class"`` labelling every graph with its class
        as given in the file; graphs in file order, undirected deduplicated edges (see the module docstring).

    Raises:
        FileNotFoundError: the folder or a required file is missing.
        TUFormatError: a file is malformed (message names the file and line).
    """
    return _parse_tu(_folder_files(Path(folder), name))


def load_tu_zip(path: str | os.PathLike, name: str | None = None) -> TaskCollection:
    """Loads a TU-format dataset straight from a ``.zip`` archive (nothing is extracted to disk).

    The ``<NAME>_*.txt`` members may sit in a subfolder (``TRIANGLES_train/TRIANGLES_train_A.txt``).
    ``name`` defaults to the archive's stem, or to the prefix of the only ``*_A.txt`` member. The
    collection's ``source.files`` holds the sha256 of the archive. Otherwise as :func:`load_tu_folder`.
    """
    path = Path(path)
    with _open_zip(path) as archive:
        return _parse_tu(_zip_files(path, archive, name))


# ------------------------------------------------------------------------------------------------------------
# GIN text format
# ------------------------------------------------------------------------------------------------------------
@dataclass
class _GinGraphs:
    """Flat arrays collected while reading a GIN file (neighbour lists are local; made global here)."""

    node_counts: list[int]
    labels: list[int]
    tags: list[int]
    attrs: list[list[float]]
    src: list[int]
    dst: list[int]
    edge_line: list[int]


def _gin_ints(tokens: list[str], where: str, what: str) -> list[int]:
    try:
        return [int(t) for t in tokens]
    except ValueError:
        raise TUFormatError(f"{where}: {what}: expected integers, found {' '.join(tokens)!r}") from None


def _gin_node(tokens: list[str], where: str, line: int, n: int, base: int, out: _GinGraphs) -> None:
    """Parses one node line ``node_tag num_neighbors neighbor_ids... [attributes...]`` (file line ``line``)
    of a graph of ``n`` nodes whose first node has global id ``base``, appending to ``out``."""
    if len(tokens) < 2:
        raise TUFormatError(f"{where}: expected 'node_tag num_neighbors neighbor_ids...', found {' '.join(tokens)!r}")
    tag, degree = _gin_ints(tokens[:2], where, "node tag and neighbour count")
    if degree < 0 or len(tokens) < 2 + degree:
        raise TUFormatError(f"{where}: announces {degree} neighbours but lists {len(tokens) - 2}")
    neighbours = _gin_ints(tokens[2:2 + degree], where, "neighbour ids")
    bad = [v for v in neighbours if not 0 <= v < n]
    if bad:
        raise TUFormatError(f"{where}: neighbour id {bad[0]} is out of range 0..{n - 1}")
    try:
        out.attrs.append([float(t) for t in tokens[2 + degree:]])
    except ValueError:
        raise TUFormatError(f"{where}: node attributes must be numbers, found "
                            f"{' '.join(tokens[2 + degree:])!r}") from None
    node = len(out.tags)
    out.tags.append(tag)
    out.src.extend([node] * degree)
    out.dst.extend(base + v for v in neighbours)
    out.edge_line.extend([line] * degree)


def _read_gin(lines: list[str], label: str) -> _GinGraphs:
    """Walks the lines of a GIN file; errors name the file, the 0-based graph index and the 1-based line."""
    out = _GinGraphs([], [], [], [], [], [], [])
    if not lines or not lines[0].strip():
        raise TUFormatError(f"{label}: the file is empty (line 1 must hold the number of graphs)")
    header = lines[0].split()
    if len(header) != 1:
        raise TUFormatError(f"{label}: line 1: expected the number of graphs, found {lines[0].strip()!r}")
    (n_graphs,) = _gin_ints(header, f"{label}: line 1", "the number of graphs")
    pos = 1  # 0-based index of the next line
    for g in range(n_graphs):
        where = f"{label}: graph index {g} (line {pos + 1})"
        if pos >= len(lines) or not lines[pos].strip():
            raise TUFormatError(f"{where}: the file ends before graph {g} of the {n_graphs} announced in line 1 "
                                f"(truncated?)")
        tokens = lines[pos].split()
        if len(tokens) != 2:
            raise TUFormatError(f"{where}: expected 'n_nodes label', found {lines[pos].strip()!r}")
        n, cls = _gin_ints(tokens, where, "node count and label")
        complete = pos + 1 + n <= len(lines) and all(lines[i].strip() for i in range(pos + 1, pos + 1 + n))
        if n < 0 or not complete:
            present = next((k for k in range(n) if pos + 1 + k >= len(lines) or not lines[pos + 1 + k].strip()), n)
            raise TUFormatError(f"{where}: announces {n} nodes but only {present} node lines follow before "
                                f"{'the end of the file' if pos + 1 + present >= len(lines) else 'a blank line'} "
                                f"(truncated?)")
        base = len(out.tags)
        for k in range(n):
            line = pos + 2 + k
            _gin_node(lines[line - 1].split(), f"{label}: graph index {g}, line {line}", line, n, base, out)
        out.node_counts.append(n)
        out.labels.append(cls)
        pos += 1 + n
    extra = [i for i in range(pos, len(lines)) if lines[i].strip()]
    if extra:
        raise TUFormatError(f"{label}: line {extra[0] + 1}: unexpected content after the {n_graphs} graphs "
                            f"announced in line 1")
    return out


def _gin_attributes(attrs: list[list[float]], label: str) -> np.ndarray | None:
    """Node attributes trailing the neighbour lists, if every node has the same number of them."""
    widths = {len(a) for a in attrs}
    if widths in (set(), {0}):
        return None
    if len(widths) > 1:
        raise TUFormatError(f"{label}: nodes carry different numbers of attributes after their neighbour lists "
                            f"({sorted(widths)})")
    return np.asarray(attrs, dtype=np.float32)


def load_gin_txt(path: str | os.PathLike, name: str | None = None) -> TaskCollection:
    """Loads a dataset in the GIN text format (as used by the few-shot splits of Chauhan et al., ICLR 2020).

    Format: line 1 holds the number of graphs ``N``; each graph is a line ``n label`` followed by ``n``
    lines ``node_tag num_neighbors neighbor_ids...`` with 0-based ids local to the graph (values after the
    neighbour ids, if any, are node attributes).

    Args:
        path: the ``.txt`` file.
        name: dataset name; defaults to the file's stem.

    Returns:
        A multiclass :class:`TaskCollection` (one task ``"class"``, labels as in the file); node field ``x`` =
        node tags, int64 ``[n, 1]`` (plus ``node_attr`` when the file has attributes); edges undirected and
        deduplicated as for the TU format.

    Raises:
        FileNotFoundError: the file is missing.
        TUFormatError: malformed or truncated file (message names the file, the graph index and the line).
    """
    path = Path(path)
    data = path.read_bytes()
    label = path.name
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TUFormatError(f"{label}: not a UTF-8 text file ({err})") from None
    raw = _read_gin(lines, label)
    counts = np.asarray(raw.node_counts, dtype=np.int64)
    node_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    node_graph = np.repeat(np.arange(len(counts)), counts)
    edge_lines = np.asarray(raw.edge_line, dtype=np.int64)
    src = np.asarray(raw.src, dtype=np.int64)
    edges = _undirected(src, np.asarray(raw.dst, dtype=np.int64), len(raw.tags))
    node_fields = {"x": np.asarray(raw.tags, dtype=np.int64).reshape(-1, 1)}
    attrs = _gin_attributes(raw.attrs, label)
    if attrs is not None:
        node_fields["node_attr"] = attrs
    store = _build_store(edges, node_ptr, node_graph, node_fields, {})
    skipped = _report_duplicates(edges, src, node_graph, label, lambda i: int(edge_lines[i]),
                                 lambda g: f"graph index {g}")
    labels = np.asarray(raw.labels, dtype=np.float32)
    source = SourceInfo(name=name or path.stem, files={path.name: hashlib.sha256(data).hexdigest()})
    return _collection(name or path.stem, store, labels, source, skipped)


# ------------------------------------------------------------------------------------------------------------
# Few-shot class splits
# ------------------------------------------------------------------------------------------------------------
def load_fewshot_class_split(folder: str | os.PathLike) -> dict[str, list[int]]:
    """The train/test class split of a few-shot graph-classification benchmark.

    Reads ``train_test_classes.json`` in ``folder`` (falling back to ``main_splits.json``), the files of
    Chauhan et al. (ICLR 2020), e.g. ENZYMES -> ``{"train": [1, 3, 5, 6], "test": [2, 4]}``. Class ids are
    the labels as they appear in the dataset file; their order is kept.

    Raises:
        FileNotFoundError: neither file exists.
        TUFormatError: the JSON is malformed, lacks ``train``/``test`` or lists non-integer class ids.
    """
    folder = Path(folder)
    path = next((folder / f for f in _SPLIT_FILES if (folder / f).is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no few-shot class split in {str(folder)!r}: expected {' or '.join(_SPLIT_FILES)}")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TUFormatError(f"{path.name}: not valid JSON ({err})") from None
    if not isinstance(content, dict) or not {"train", "test"} <= set(content):
        raise TUFormatError(f"{path.name}: expected an object with 'train' and 'test' class lists")
    split: dict[str, list[int]] = {}
    for key, classes in content.items():
        if not isinstance(classes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            raise TUFormatError(f"{path.name}: {key!r} must be a list of integer class ids, found {classes!r}")
        split[str(key)] = list(classes)
    overlap = set(split["train"]) & set(split["test"])
    if overlap:
        raise TUFormatError(f"{path.name}: classes {sorted(overlap)} are both in 'train' and 'test'")
    return split
