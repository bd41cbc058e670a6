"""Scale on one machine: peak memory and meta-training speed from a memory-mapped store vs an in-memory one.

For each dataset (all FS-Mol training tasks of the data folder, and MUV's 93,087 molecules), the featurized
collection is first built once into the cache (``--cache``, a fresh folder measures the first featurization;
its time and peak RSS are reported as ``prepare``). Then each case runs in a *fresh subprocess*:

- ``memory`` (the reference): ``load_dataset(..., mmap=False)``, every graph read into memory;
- ``mmap``: ``load_dataset(...)``, the cache's graph files mapped; a meta-batch reads only its graphs' rows.

Each case loads the collection and meta-trains ProtoNet on a small GIN for ``--steps`` steps over all tasks of
the dataset (``MetaTrainer``, no validation tasks) and reports: load seconds, episodes per second of the whole
``fit()`` (the first page faults of the mapped files included) and of the same run repeated (``warm``: the
pages it needs are resident, the steady state of a long run), peak RSS (``resource.getrusage`` ``ru_maxrss``
of the subprocess, which includes importing torch), the resident memory after training split into anonymous
memory and file pages (``RssAnon``/``RssFile`` of ``/proc/self/status``; file pages include torch's
libraries) and the resident part of the mapped store files (``/proc/self/smaps``: the pages meta-batches
touched), and the training losses (the two cases must agree exactly). Ratios are
``mmap / memory`` from the same run; the target is a peak RSS under 4 GiB for every case.

Before each case the cache files are dropped from the page cache (``posix_fadvise(DONTNEED)``), so both cases
start cold, as a second load some time after the first does: the in-memory case reads every file, the mapped
case reads the pages its gathers touch (the mapping is advised ``MADV_RANDOM``: no read-ahead).

Usage: ``python bench/scale.py [--datasets fsmol-train muv] [--steps 40] [--cache DIR] [--threads 1] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_record  # noqa: E402

#: bench name -> (registered dataset, load_dataset options)
DATASETS: dict[str, tuple[str, dict[str, Any]]] = {
    "fsmol-train": ("fsmol", {"splits": ["train"]}),
    "muv": ("muv", {}),
    "tox21": ("tox21", {}),  # small: the smoke test
}
STORES = ("memory", "mmap")
LIMIT_MIB = 4096


def _status_mib() -> dict[str, float]:
    """``VmRSS``, ``RssAnon`` and ``RssFile`` of this process in MiB (Linux)."""
    out: dict[str, float] = {}
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def _mapped_mib(folder: Path) -> float:
    """Resident MiB of this process's mappings of files under ``folder`` (``/proc/self/smaps``; Linux)."""
    smaps = Path("/proc/self/smaps")
    if not smaps.is_file():
        return float("nan")
    prefix, total, inside = str(folder.resolve()), 0, False
    for line in smaps.read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            inside = len(fields) >= 6 and fields[5].startswith(prefix)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total / 1024


def _drop_page_cache(folder: Path) -> None:
    """Asks the kernel to forget the cached pages of the files under ``folder`` (best effort)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _load(dataset: str, cache: Path, mmap: bool):
    from graphmeta.data.api import load_dataset

    name, options = DATASETS[dataset]
    return load_dataset(name, cache=cache, mmap=mmap, progress=False, **options)


def prepare(dataset: str, cache: Path) -> dict[str, Any]:
    """Builds (or finds) the dataset's cache entry; run in its own process."""
    entries = set(cache.glob("*")) if cache.is_dir() else set()
    start = time.perf_counter()
    collection = _load(dataset, cache, mmap=True)
    seconds = time.perf_counter() - start
    new = sorted(set(cache.glob("*")) - entries)
    graphs = collection.graphs
    tensors = [graphs.edge_index, graphs.node_ptr, graphs.edge_ptr, *graphs.node_fields.values(),
               *graphs.edge_fields.values()]
    return {"seconds": seconds, "featurized": bool(new), "peak_rss_mib": _peak_rss_mib(),
            "n_graphs": collection.n_graphs, "n_tasks": collection.n_tasks,
            "n_nodes": int(graphs.node_ptr[-1]), "n_edges": int(graphs.edge_ptr[-1]),
            "store_mib": sum(t.numel() * t.element_size() for t in tensors) / 2**20}


def run_case(dataset: str, store: str, cache: Path, steps: int, meta_batch_size: int, threads: int) -> dict[str, Any]:
    """Loads the dataset with ``store`` and meta-trains; run in a fresh process."""
    import torch

    from graphmeta.data.splits import TaskSplit
    from graphmeta.train import MetaTrainer, TrainConfig

    torch.set_num_threads(threads)
    before = _status_mib()
    start = time.perf_counter()
    collection = _load(dataset, cache, mmap=store == "mmap")
    load_seconds = time.perf_counter() - start
    after_load = _status_mib()
    tasks = tuple(range(collection.n_tasks))
    if "train" in collection.task_groups:
        tasks = tuple(collection.task_groups["train"])
    split = TaskSplit(train=tasks, test=())
    config = TrainConfig(learner="protonet", steps=steps, eval_every=steps, meta_batch_size=meta_batch_size,
                         k_shot=5, n_query=16, hidden_channels=64, num_layers=3, conv="gin", seed=0)
    trainer = MetaTrainer(collection, split, config, progress=False)
    start = time.perf_counter()
    result = trainer.fit()
    train_seconds = time.perf_counter() - start
    end = _status_mib()
    store_resident = _mapped_mib(cache)
    start = time.perf_counter()  # the same run again: every page it needs is resident (steady state)
    again = MetaTrainer(collection, split, config, progress=False).fit()
    warm_seconds = time.perf_counter() - start
    if again.history != result.history:
        raise RuntimeError("the repeated run gave different losses")
    return {"load_seconds": load_seconds, "train_seconds": train_seconds,
            "episodes_per_second": steps * meta_batch_size / train_seconds,
            "episodes_per_second_warm": steps * meta_batch_size / warm_seconds,
            "peak_rss_mib": _peak_rss_mib(), "rss_before_load_mib": before.get("VmRSS"),
            "rss_after_load_mib": after_load.get("VmRSS"), "rss_end_mib": end.get("VmRSS"),
            "rss_anon_end_mib": end.get("RssAnon"), "rss_file_end_mib": end.get("RssFile"),
            "store_resident_end_mib": store_resident,
            "n_tasks": len(tasks), "train_loss": [h["train_loss"] for h in result.history]}


def _subprocess(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench/scale.py {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["fsmol-train", "muv"], choices=sorted(DATASETS))
    parser.add_argument("--steps", type=int, default=40, help="meta-training steps per case (default 40)")
    parser.add_argument("--meta-batch-size", type=int, default=16, help="episodes per step (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each case (default 1)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/graphmeta-scale-cache"),
                        help="featurization cache folder (default /tmp/graphmeta-scale-cache)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/scale.json)")
    parser.add_argument("--case", nargs=2, metavar=("DATASET", "STORE"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", metavar="DATASET", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:  # child process
        print(json.dumps(prepare(args.prepare, args.cache)))
        return {}
    if args.case:  # child process
        dataset, store = args.case
        print(json.dumps(run_case(dataset, store, args.cache, args.steps, args.meta_batch_size, args.threads)))
        return {}

    common = ["--cache", str(args.cache), "--steps", str(args.steps), "--meta-batch-size",
              str(args.meta_batch_size), "--threads", str(args.threads)]
    results: dict[str, Any] = {"settings": {"steps": args.steps, "meta_batch_size": args.meta_batch_size,
                                            "threads": args.threads, "learner": "protonet",
                                            "model": "gin hidden 64, 3 layers", "k_shot": 5, "n_query": 16,
                                            "cache": str(args.cache),
                                            "page_cache": "cache files dropped before each case"},
                               "limit_mib": LIMIT_MIB, "datasets": {}}
    print(f"{'dataset':<12} {'store':<7} {'load s':>7} {'episodes/s':>10} {'warm ep/s':>9} {'peak RSS MiB':>12} "
          f"{'anon RSS MiB':>12} {'mapped store MiB':>16}")
    for dataset in args.datasets:
        prep = _subprocess(["--prepare", dataset, "--cache", str(args.cache)])
        cases = {}
        for store in STORES:
            _drop_page_cache(args.cache)
            cases[store] = _subprocess(["--case", dataset, store, *common])
        ref, mapped = cases["memory"], cases["mmap"]
        entry = {"prepare": prep, "cases": cases,
                 "ratio_mmap_to_memory": {"peak_rss": mapped["peak_rss_mib"] / ref["peak_rss_mib"],
                                          "episodes_per_second": mapped["episodes_per_second"]
                                          / ref["episodes_per_second"],
                                          "episodes_per_second_warm": mapped["episodes_per_second_warm"]
                                          / ref["episodes_per_second_warm"],
                                          "load_seconds": mapped["load_seconds"] / ref["load_seconds"]},
                 "losses_equal": mapped["train_loss"] == ref["train_loss"]}
        results["datasets"][dataset] = entry
        print(f"{dataset:<12} {'prepare':<7} {prep['seconds']:>7.1f} {'':>10} {'':>9} {prep['peak_rss_mib']:>12.0f}"
              f"   ({prep['n_graphs']:,} graphs, {prep['n_tasks']} tasks, store {prep['store_mib']:.0f} MiB, "
              f"{'featurized' if prep['featurized'] else 'from cache'})")
        for store, case in cases.items():
            print(f"{dataset:<12} {store:<7} {case['load_seconds']:>7.2f} {case['episodes_per_second']:>10.1f} "
                  f"{case['episodes_per_second_warm']:>9.1f} "
                  f"{case['peak_rss_mib']:>12.0f} {case['rss_anon_end_mib'] or 0:>12.0f} "
                  f"{case['store_resident_end_mib']:>16.1f}")
        ratio = entry["ratio_mmap_to_memory"]
        print(f"{dataset:<12} {'mmap/memory':<12} peak RSS x{ratio['peak_rss']:.2f}, episodes/s "
              f"x{ratio['episodes_per_second']:.2f} (warm x{ratio['episodes_per_second_warm']:.2f}), "
              f"load time x{ratio['load_seconds']:.2f}; "
              f"same losses: {entry['losses_equal']}")
    peaks = [c["peak_rss_mib"] for d in results["datasets"].values() for c in d["cases"].values()]
    results["max_peak_rss_mib"] = max(peaks)
    results["under_limit"] = max(peaks) < LIMIT_MIB
    print(f"largest peak RSS of a training case: {max(peaks):.0f} MiB (limit {LIMIT_MIB} MiB: "
          f"{'met' if results['under_limit'] else 'MISSED'})")
    path = write_record("scale", results, args.out)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
