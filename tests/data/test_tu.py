"""Tests of the TU / GIN graph-classification parsers (graphmeta.data.loaders.tu).

Hand-made files check exact outputs and every validation error; the real files under
``shared/data/tu`` (skipped when absent) check the counts documented in ``SOURCES.md``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from graphmeta.data.loaders.tu import (
    TUFormatError,
    load_fewshot_class_split,
    load_gin_txt,
    load_tu_folder,
    load_tu_zip,
)
from graphmeta.data.tasks import TaskCollection

# ----------------------------------------------------------------------------------------------------------
# A tiny TU dataset "TOY": graph 1 = path 1-2-3, graph 2 = edge 4-5, graph 3 = isolated node 6.
# ----------------------------------------------------------------------------------------------------------
TOY = {
    "A": "1, 2\n2, 1\n3, 2\n2, 3\n4, 5\n5, 4\n",
    "edge_labels": "1\n1\n2\n2\n3\n3\n",
    "graph_indicator": "1\n1\n1\n2\n2\n3\n",
    "graph_labels": "-1\n1\n-1\n",
    "node_labels": "0\n1\n0\n2\n2\n1\n",
    "node_attributes": "0.5, 1.0\n1.5, -2.0\n 2.5, 3.0\n4.0, 4.5\n5.0, 5.5\n6.0, 6.5\n",
}
TOY_EDGE_INDEX = [[0, 1, 1, 2, 0, 1], [1, 0, 2, 1, 1, 0]]  # local, sorted by (row, col) within each graph
TOY_EDGE_ATTR = [[1], [1], [2], [2], [3], [3]]
TOY_NODE_PTR = [0, 3, 5, 6]
TOY_EDGE_PTR = [0, 4, 6, 6]


def write_tu(folder: Path, parts: dict[str, str], name: str = "TOY") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part, text in parts.items():
        (folder / f"{name}_{part}.txt").write_text(text)
    return folder


def write_tu_zip(path: Path, parts: dict[str, str], name: str = "TOY", subfolder: str = "TOY/") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if subfolder:
            archive.writestr(subfolder, "")
        for part, text in parts.items():
            archive.writestr(f"{subfolder}{name}_{part}.txt", text)
        archive.writestr(f"{subfolder}README.txt", "not read")
    return path


def with_parts(**changes: str | None) -> dict[str, str]:
    parts = dict(TOY)
    for part, text in changes.items():
        if text is None:
            parts.pop(part)
        else:
            parts[part] = text
    return parts


def assert_same_collection(a: TaskCollection, b: TaskCollection) -> None:
    for key in ("edge_index", "node_ptr", "edge_ptr"):
        assert torch.equal(getattr(a.graphs, key), getattr(b.graphs, key)), key
    assert a.graphs.node_fields.keys() == b.graphs.node_fields.keys()
    assert a.graphs.edge_fields.keys() == b.graphs.edge_fields.keys()
    for key in a.graphs.node_fields:
        assert torch.equal(a.graphs.node_fields[key], b.graphs.node_fields[key]), key
    for key in a.graphs.edge_fields:
        assert torch.equal(a.graphs.edge_fields[key], b.graphs.edge_fields[key]), key
    assert torch.equal(a.labels.value, b.labels.value) and torch.equal(a.labels.graph, b.labels.graph)
    assert a.skipped.entries == b.skipped.entries


def assert_symmetric(collection: TaskCollection) -> None:
    """Within every graph the set of (u, v) equals the set of (v, u), and no pair is repeated."""
    store = collection.graphs
    graph = torch.repeat_interleave(torch.arange(len(store)), store.num_edges)
    n = int(store.num_nodes.max())
    u, v = store.edge_index
    forward = ((graph * n + u) * n + v).numpy()
    backward = ((graph * n + v) * n + u).numpy()
    assert len(np.unique(forward)) == len(forward), "duplicate edges"
    assert np.array_equal(np.sort(forward), np.sort(backward)), "edge set is not symmetric"


# ----------------------------------------------------------------------------------------------------------
# Hand-made TU data
# ----------------------------------------------------------------------------------------------------------
def test_tiny_folder_exact(tmp_path: Path) -> None:
    folder = write_tu(tmp_path / "TOY", TOY)
    c = load_tu_folder(folder)
    assert c.name == "TOY" and len(c) == 3
    assert c.task_type == "multiclass" and c.task_names == ["class"]
    assert c.smiles is None and c.featurizer is None and c.task_groups == {}
    assert c.graphs.edge_index.tolist() == TOY_EDGE_INDEX
    assert c.graphs.node_ptr.tolist() == TOY_NODE_PTR
    assert c.graphs.edge_ptr.tolist() == TOY_EDGE_PTR
    x = c.graphs.node_fields["x"]
    assert x.dtype == torch.int64 and x.tolist() == [[0], [1], [0], [2], [2], [1]]
    attr = c.graphs.node_fields["node_attr"]
    assert attr.dtype == torch.float32 and attr.shape == (6, 2)
    assert attr[2].tolist() == [2.5, 3.0] and attr[1].tolist() == [1.5, -2.0]
    edge_attr = c.graphs.edge_fields["edge_attr"]
    assert edge_attr.dtype == torch.int64 and edge_attr.tolist() == TOY_EDGE_ATTR
    graphs, values = c.labels.task(0)
    assert graphs.tolist() == [0, 1, 2]
    assert values.dtype == torch.float32 and values.tolist() == [-1.0, 1.0, -1.0]
    assert c.classes() == [-1, 1]
    assert len(c.skipped) == 0
    assert c.source is not None and c.source.name == "TOY"
    assert c.source.files == {
        f"TOY_{part}.txt": hashlib.sha256(text.encode()).hexdigest() for part, text in TOY.items()
    }
    assert c.graphs[2].num_nodes == 1 and c.graphs[2].edge_index.shape == (2, 0)


def test_folder_name_argument_and_inference(tmp_path: Path) -> None:
    folder = write_tu(tmp_path / "somewhere", TOY)
    inferred = load_tu_folder(folder)  # no somewhere_A.txt: the only *_A.txt gives the name
    named = load_tu_folder(folder, name="TOY")
    assert inferred.name == named.name == "TOY"
    assert_same_collection(inferred, named)


def test_zip_with_subfolder_loads_identically(tmp_path: Path) -> None:
    folder = load_tu_folder(write_tu(tmp_path / "TOY", TOY))
    path = write_tu_zip(tmp_path / "TOY.zip", TOY)
    zipped = load_tu_zip(path)
    assert zipped.name == "TOY"
    assert_same_collection(folder, zipped)
    assert zipped.source is not None
    assert zipped.source.files == {"TOY.zip": hashlib.sha256(path.read_bytes()).hexdigest()}
    # another archive name: the dataset name comes from the only *_A.txt member; flat members work too
    other = load_tu_zip(write_tu_zip(tmp_path / "archive.zip", TOY, subfolder=""))
    assert other.name == "TOY"
    assert_same_collection(folder, other)


def test_single_direction_edges_get_their_reverse(tmp_path: Path) -> None:
    parts = with_parts(A="1, 2\n3, 2\n4, 5\n", edge_labels="1\n2\n3\n")
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.graphs.edge_index.tolist() == TOY_EDGE_INDEX
    assert c.graphs.edge_ptr.tolist() == TOY_EDGE_PTR
    assert c.graphs.edge_fields["edge_attr"].tolist() == TOY_EDGE_ATTR  # the reverse keeps the label
    assert len(c.skipped) == 0
    assert_symmetric(c)


def test_mixed_directions_and_duplicates(tmp_path: Path) -> None:
    # 1-2 both ways, 3-2 one way, 4-5 listed twice; the duplicate (label 9) is dropped, the first kept
    parts = with_parts(A="1, 2\n2, 1\n3, 2\n4, 5\n4, 5\n", edge_labels="1\n1\n2\n3\n9\n")
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.graphs.edge_index.tolist() == TOY_EDGE_INDEX
    assert c.graphs.edge_fields["edge_attr"].tolist() == TOY_EDGE_ATTR
    assert c.skipped.counts() == {"duplicate_edge": 1}
    reason, where, detail = c.skipped.entries[0]
    assert where == "TOY_A.txt:graph id 2"
    assert "dropped 1 of its 2" in detail and "line 5 repeats line 4" in detail


def test_self_loops_are_kept_once(tmp_path: Path) -> None:
    parts = with_parts(A="1, 2\n2, 1\n3, 2\n2, 3\n4, 5\n5, 4\n6, 6\n6, 6\n", edge_labels="1\n1\n2\n2\n3\n3\n4\n4\n")
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.graphs.edge_ptr.tolist() == [0, 4, 6, 7]
    assert c.graphs.edge_index[:, 6].tolist() == [0, 0]
    assert c.skipped.counts() == {"duplicate_edge": 1}


def test_graph_attributes_give_labels_when_graph_labels_are_absent(tmp_path: Path) -> None:
    parts = with_parts(graph_labels=None, graph_attributes="3\n10\n1\n")
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.labels.value.tolist() == [3.0, 10.0, 1.0]
    assert "TOY_graph_attributes.txt" in c.source.files


def test_no_node_fields_without_labels_or_attributes(tmp_path: Path) -> None:
    parts = with_parts(node_labels=None, node_attributes=None, edge_labels=None)
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.graphs.node_fields == {} and c.graphs.edge_fields == {}
    assert c.graphs.num_nodes.tolist() == [3, 2, 1]
    assert c.graphs.gather([0, 2]).num_nodes == 4


def test_tolerates_crlf_trailing_blank_lines_and_float_labels(tmp_path: Path) -> None:
    parts = {part: text.replace("\n", "\r\n") + "\r\n\r\n" for part, text in TOY.items()}
    parts["graph_labels"] = "-1.0\r\n1.0\r\n-1\r\n"
    c = load_tu_folder(write_tu(tmp_path / "TOY", parts))
    assert c.graphs.edge_index.tolist() == TOY_EDGE_INDEX
    assert c.labels.value.tolist() == [-1.0, 1.0, -1.0]


# ----------------------------------------------------------------------------------------------------------
# TU validation errors: each names the file (and the line)
# ----------------------------------------------------------------------------------------------------------
BAD_TU = {
    "indicator_not_sorted": (
        dict(graph_indicator="1\n1\n2\n1\n2\n3\n"), r"TOY_graph_indicator\.txt: line 4: graph ids are not sorted"),
    "indicator_gap": (dict(graph_indicator="1\n1\n1\n3\n3\n4\n"), r"TOY_graph_indicator\.txt: line 4: graph ids jump"),
    "indicator_not_from_1": (dict(graph_indicator="2\n2\n2\n3\n3\n4\n"), r"TOY_graph_indicator\.txt: line 1"),
    "edge_across_graphs": (dict(A="1, 2\n2, 1\n3, 4\n2, 3\n4, 5\n5, 4\n"),
                           r"TOY_A\.txt: line 3: edge \(3, 4\) joins graph 1 and graph 2"),
    "node_id_too_large": (dict(A="1, 2\n2, 1\n3, 2\n2, 3\n4, 5\n5, 7\n"),
                          r"TOY_A\.txt: line 6: node id 7 is out of range 1\.\.6"),
    "node_id_zero": (dict(A="0, 2\n2, 1\n3, 2\n2, 3\n4, 5\n5, 4\n"), r"TOY_A\.txt: line 1: node id 0 is out of range"),
    "node_labels_short": (dict(node_labels="0\n1\n0\n2\n2\n"), r"TOY_node_labels\.txt: 5 lines, expected one per node"),
    "node_attributes_long": (dict(node_attributes=TOY["node_attributes"] + "7.0, 7.5\n"),
                             r"TOY_node_attributes\.txt: 7 lines, expected one per node"),
    "graph_labels_count": (dict(graph_labels="-1\n1\n"), r"TOY_graph_labels\.txt: 2 lines, expected one per graph"),
    "edge_labels_count": (dict(edge_labels="1\n1\n2\n2\n3\n"),
                          r"TOY_edge_labels\.txt: 5 lines, expected one per line of TOY_A\.txt"),
    "malformed_number": (dict(A="1, 2\n2, x\n3, 2\n2, 3\n4, 5\n5, 4\n"), r"TOY_A\.txt: line 2: 'x' is not a number"),
    "missing_value": (dict(node_attributes="0.5, 1.0\n1.5\n2.5, 3.0\n4.0, 4.5\n5.0, 5.5\n6.0, 6.5\n"),
                      r"TOY_node_attributes\.txt: line 2: missing value"),
    "blank_line_inside": (dict(node_labels="0\n1\n\n0\n2\n2\n1\n"), r"TOY_node_labels\.txt: line 3: missing value"),
    "too_many_fields": (dict(node_attributes="0.5, 1.0\n1.5, 2.0, 9\n2.5, 3.0\n4.0, 4.5\n5.0, 5.5\n6.0, 6.5\n"),
                        r"TOY_node_attributes\.txt: .*line 2"),
    "A_three_columns": (dict(A="1, 2, 1\n2, 1, 1\n"), r"TOY_A\.txt: expected 2 value\(s\) per line, found 3"),
    "non_integer_label": (dict(graph_labels="-1\n0.5\n1\n"),
                          r"TOY_graph_labels\.txt: line 2: class labels must be integers, found 0\.5"),
    "non_integer_node_label": (dict(node_labels="0\n1\n0\n2.5\n2\n1\n"),
                               r"TOY_node_labels\.txt: line 4: node labels must be integers"),
    "empty_file": (dict(graph_labels=""), r"TOY_graph_labels\.txt: the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_TU))
def test_tu_errors_name_the_file(tmp_path: Path, case: str) -> None:
    changes, pattern = BAD_TU[case]
    with pytest.raises(TUFormatError, match=pattern):
        load_tu_folder(write_tu(tmp_path / "TOY", with_parts(**changes)))


def test_tu_error_in_zip_names_archive_and_member(tmp_path: Path) -> None:
    path = write_tu_zip(tmp_path / "TOY.zip", with_parts(node_labels="0\n1\n"))
    with pytest.raises(TUFormatError, match=r"TOY\.zip:TOY/TOY_node_labels\.txt: 2 lines"):
        load_tu_zip(path)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="TOY_A.txt"):
        load_tu_folder(write_tu(tmp_path / "TOY", with_parts(A=None)), name="TOY")
    with pytest.raises(FileNotFoundError, match="TOY2_graph_labels.txt"):
        load_tu_folder(write_tu(tmp_path / "TOY2", with_parts(graph_labels=None), name="TOY2"), name="TOY2")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tu_folder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tu_zip(tmp_path / "nowhere.zip")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(TUFormatError, match=r"broken\.zip: not a valid zip"):
        load_tu_zip(tmp_path / "broken.zip")


# ----------------------------------------------------------------------------------------------------------
# GIN text format
# ----------------------------------------------------------------------------------------------------------
GIN = "2\n3 1\n0 2 1 2 \n1 1 0\n1 1 0\n2 0\n5 1 1\n5 1 0\n"


def test_gin_exact(tmp_path: Path) -> None:
    path = tmp_path / "TOYGIN.txt"
    path.write_text(GIN)
    c = load_gin_txt(path)
    assert c.name == "TOYGIN" and len(c) == 2
    assert c.task_type == "multiclass" and c.task_names == ["class"]
    assert c.graphs.node_ptr.tolist() == [0, 3, 5]
    assert c.graphs.edge_ptr.tolist() == [0, 4, 6]
    assert c.graphs.edge_index.tolist() == [[0, 0, 1, 2, 0, 1], [1, 2, 0, 0, 1, 0]]
    assert c.graphs.node_fields["x"].dtype == torch.int64
    assert c.graphs.node_fields["x"].tolist() == [[0], [1], [1], [5], [5]]
    assert set(c.graphs.node_fields) == {"x"} and c.graphs.edge_fields == {}
    assert c.labels.value.tolist() == [1.0, 0.0]
    assert c.source is not None and c.source.files == {"TOYGIN.txt": hashlib.sha256(GIN.encode()).hexdigest()}
    assert len(c.skipped) == 0
    assert load_gin_txt(path, name="other").name == "other"


def test_gin_one_sided_neighbours_duplicates_and_attributes(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("1\n3 7\n4 3 1 2 1 0.5 1.5\n4 0 -1.0 2\n4 0 0 0\n")
    c = load_gin_txt(path)
    assert c.graphs.edge_index.tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]
    assert c.graphs.node_fields["node_attr"].tolist() == [[0.5, 1.5], [-1.0, 2.0], [0.0, 0.0]]
    assert c.skipped.counts() == {"duplicate_edge": 1}
    assert c.skipped.entries[0][1] == "g.txt:graph index 0"
    assert c.labels.value.tolist() == [7.0]


BAD_GIN = {
    "truncated_inside_graph": (GIN.rsplit("5 1 0\n", 1)[0],
                               r"TOYGIN\.txt: graph index 1 \(line 6\): announces 2 nodes but only 1"),
    "missing_graph": ("3" + GIN[1:], r"TOYGIN\.txt: graph index 2 \(line 9\): the file ends before graph 2 of the 3"),
    "neighbour_out_of_range": (GIN.replace("1 1 0\n1 1 0", "1 1 0\n1 1 3"),
                               r"TOYGIN\.txt: graph index 0, line 5: neighbour id 3 is out of range 0\.\.2"),
    "neighbour_count": (GIN.replace("0 2 1 2 ", "0 3 1 2"),
                        r"TOYGIN\.txt: graph index 0, line 3: announces 3 neighbours"),
    "bad_number": (GIN.replace("3 1\n", "3 a\n"),
                   r"TOYGIN\.txt: graph index 0 \(line 2\): node count and label: expected integers"),
    "bad_header": ("two\n", r"TOYGIN\.txt: line 1"),
    "trailing_content": (GIN + "1 0\n", r"TOYGIN\.txt: line 9: unexpected content"),
    "empty": ("", r"TOYGIN\.txt: the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_GIN))
def test_gin_errors(tmp_path: Path, case: str) -> None:
    text, pattern = BAD_GIN[case]
    path = tmp_path / "TOYGIN.txt"
    path.write_text(text)
    with pytest.raises(TUFormatError, match=pattern):
        load_gin_txt(path)


# ----------------------------------------------------------------------------------------------------------
# Few-shot class splits
# ----------------------------------------------------------------------------------------------------------
def test_fewshot_split_files(tmp_path: Path) -> None:
    (tmp_path / "main_splits.json").write_text(json.dumps({"train": [3, 1], "test": [2]}))
    assert load_fewshot_class_split(tmp_path) == {"train": [3, 1], "test": [2]}
    (tmp_path / "train_test_classes.json").write_text(json.dumps({"train": [1], "test": [2, 3]}))
    assert load_fewshot_class_split(tmp_path) == {"train": [1], "test": [2, 3]}  # preferred over main_splits
    (tmp_path / "train_test_classes.json").write_text('{"train": [1]}')
    with pytest.raises(TUFormatError, match="train_test_classes.json"):
        load_fewshot_class_split(tmp_path)
    (tmp_path / "train_test_classes.json").write_text('{"train": [1, 2], "test": [2]}')
    with pytest.raises(TUFormatError, match=r"train_test_classes\.json: classes \[2\]"):
        load_fewshot_class_split(tmp_path)
    with pytest.raises(FileNotFoundError, match="train_test_classes.json"):
        load_fewshot_class_split(tmp_path / "empty")


# ----------------------------------------------------------------------------------------------------------
# Real data (skipped when ../shared/data is absent)
# ----------------------------------------------------------------------------------------------------------
# name: (graphs, nodes, directed edges after deduplication, {class: graphs}, node fields, edge fields)
REAL_TU = {
    "COIL-DEL": (3900, 83995, 423048, {c: 39 for c in range(1, 101)}, {"node_attr": 2}, {"edge_attr"}),
    "Letter-high": (2250, 10507, 20250, {c: 150 for c in range(15)}, {"node_attr": 2}, set()),
    "ENZYMES": (600, 19580, 74564, {c: 100 for c in range(1, 7)}, {"x": 1, "node_attr": 18}, set()),
    "IMDB-BINARY": (1000, 19773, 193062, {0: 500, 1: 500}, {}, set()),
    "IMDB-MULTI": (1500, 19502, 197806, {1: 500, 2: 500, 3: 500}, {}, set()),
    "PROTEINS": (1113, 43471, 162088, {1: 663, 2: 450}, {"x": 1, "node_attr": 1}, set()),
    "MUTAG": (188, 3371, 7442, {-1: 63, 1: 125}, {"x": 1}, {"edge_attr"}),
}
# A lines listed in SOURCES.md; IMDB-* list every undirected edge four times (twice per direction)
A_LINES = {"IMDB-BINARY": 386124, "IMDB-MULTI": 395612}


def class_counts(c: TaskCollection) -> dict[int, int]:
    return dict(Counter(int(v) for v in c.labels.value.tolist()))


def test_every_real_tu_folder_is_covered(shared_data: Path) -> None:
    folders = {p.name for p in (shared_data / "tu").iterdir() if p.is_dir() and any(p.glob("*_A.txt"))}
    assert folders == set(REAL_TU)


@pytest.mark.parametrize("name", sorted(REAL_TU))
def test_real_tu_folder(shared_data: Path, name: str) -> None:
    graphs, nodes, edges, classes, node_fields, edge_fields = REAL_TU[name]
    c = load_tu_folder(shared_data / "tu" / name)
    assert c.name == name and len(c) == graphs
    assert int(c.graphs.node_ptr[-1]) == nodes
    assert int(c.graphs.edge_ptr[-1]) == edges
    assert class_counts(c) == classes
    assert {k: v.shape[1] for k, v in c.graphs.node_fields.items()} == node_fields
    assert set(c.graphs.edge_fields) == edge_fields
    assert c.labels.graph.tolist() == list(range(graphs))
    if name in A_LINES:
        assert c.skipped.counts() == {"duplicate_edge": graphs}
        dropped = sum(int(d.split()[1]) for _, _, d in c.skipped.entries)
        assert dropped == A_LINES[name] - edges
    else:
        assert len(c.skipped) == 0
    assert c.source is not None and f"{name}_A.txt" in c.source.files


def test_real_mutag_symmetric_and_matches_pyg(shared_data: Path) -> None:
    from torch_geometric.io import read_tu_data

    folder = shared_data / "tu" / "MUTAG"
    c = load_tu_folder(folder)
    assert_symmetric(c)
    data, slices, _ = read_tu_data(str(folder), "MUTAG")
    # PyG stores local edge indices too and coalesces (sorts by row, col): the same edges in the same order
    assert torch.equal(c.graphs.edge_ptr, slices["edge_index"])
    assert torch.equal(c.graphs.edge_index, data.edge_index)
    x = c.graphs.node_fields["x"][:, 0]
    assert torch.equal(data.x.argmax(1), x - x.min())
    assert torch.equal(data.edge_attr.argmax(1), c.graphs.edge_fields["edge_attr"][:, 0])


def test_real_imdb_duplicates_match_pyg(shared_data: Path) -> None:
    from torch_geometric.io import read_tu_data

    folder = shared_data / "tu" / "IMDB-BINARY"
    c = load_tu_folder(folder)
    assert_symmetric(c)
    data, slices, _ = read_tu_data(str(folder), "IMDB-BINARY")
    assert torch.equal(c.graphs.edge_ptr, slices["edge_index"])
    assert torch.equal(c.graphs.edge_index, data.edge_index)


# split: (graphs, nodes, per-class count, A lines listed once each)
REAL_TRIANGLES = {"train": (30000, 467278, 3000, 736732), "val": (5000, 77678, 500, 122596),
                  "test": (10000, 393482, 1000, 614184)}


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_real_triangles_zip(shared_data: Path, split: str) -> None:
    graphs, nodes, per_class, a_lines = REAL_TRIANGLES[split]
    path = shared_data / "tu" / "TRIANGLES" / f"TRIANGLES_{split}.zip"
    c = load_tu_zip(path)
    assert c.name == f"TRIANGLES_{split}" and len(c) == graphs
    assert int(c.graphs.node_ptr[-1]) == nodes
    assert int(c.graphs.edge_ptr[-1]) == 2 * a_lines  # upper triangle only: every reverse edge is added
    assert class_counts(c) == {k: per_class for k in range(1, 11)}
    assert c.graphs.node_fields == {} and c.graphs.edge_fields == {}
    assert len(c.skipped) == 0
    assert list(c.source.files) == [f"TRIANGLES_{split}.zip"]
    if split == "val":
        assert_symmetric(c)


# file: (graphs, classes -> count (None: only check the number of classes), number of classes)
REAL_GIN = {
    "ENZYMES/ENZYMES.txt": (600, {c: 100 for c in range(1, 7)}, 6),
    "Letter_high/Letter_high.txt": (2241, None, 15),
    "TRIANGLES/TRIANGLES.txt": (2010, {c: 201 for c in range(1, 11)}, 10),
}


@pytest.mark.parametrize("file", sorted(REAL_GIN))
def test_real_gin_files(shared_data: Path, file: str) -> None:
    graphs, classes, n_classes = REAL_GIN[file]
    c = load_gin_txt(shared_data / "tu" / "fewshot_splits" / file)
    assert len(c) == graphs
    assert len(c.classes()) == n_classes
    if classes is not None:
        assert class_counts(c) == classes
    assert len(c.skipped) == 0
    assert_symmetric(c)


def test_real_gin_enzymes_follows_tu_order(shared_data: Path) -> None:
    """The GIN ENZYMES file holds the TU graphs in the same order and with the same edges, but without the
    106 isolated nodes of the TU files (19,474 nodes instead of 19,580)."""
    gin = load_gin_txt(shared_data / "tu" / "fewshot_splits" / "ENZYMES" / "ENZYMES.txt")
    tu = load_tu_folder(shared_data / "tu" / "ENZYMES")
    assert torch.equal(gin.labels.value, tu.labels.value)
    assert torch.equal(gin.graphs.num_edges, tu.graphs.num_edges)
    assert int(gin.graphs.node_ptr[-1]) == 19474


def test_real_fewshot_class_splits(shared_data: Path) -> None:
    root = shared_data / "tu" / "fewshot_splits"
    assert load_fewshot_class_split(root / "ENZYMES") == {"train": [1, 3, 5, 6], "test": [2, 4]}
    assert load_fewshot_class_split(root / "TRIANGLES") == {"train": [1, 3, 4, 6, 7, 8, 9], "test": [2, 5, 10]}
    letter = load_fewshot_class_split(root / "Letter_high")
    assert sorted(letter["train"] + letter["test"]) == list(range(15))
