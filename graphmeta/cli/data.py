"""``graphmeta data``: list, download, verify and summarize datasets.

- ``graphmeta data list``: the registered datasets, their files and whether they are present;
- ``graphmeta data download NAME``: fetch a dataset's files into the data directory (sha256 verified);
- ``graphmeta data verify [NAME ...]``: check present files against their sha256 (exit 1 on a mismatch);
- ``graphmeta data summary NAME|CSV``: load a dataset (or any CSV) and print what it holds;
- ``graphmeta data corpus [SOURCE ...]``: featurize an unlabelled pretraining corpus (default MOSES + FS-Mol's
  training molecules, FS-Mol's evaluation molecules removed) into a memory-mapped folder, resuming a partial build;
- ``graphmeta data build fsmol-train-full --source DIR``: build FS-Mol's training task table from its task files.
"""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand, add_data_dir_argument, add_dataset_arguments, load_named_or_csv


class DataCommand(Subcommand):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")
        listing = actions.add_parser("list", help="registered datasets, their licenses and which files are present",
                                     description="registered datasets, their licenses and which files are present")
        add_data_dir_argument(listing)
        download = actions.add_parser("download", help="download a dataset's files, verifying their sha256",
                                      description="download a dataset's files, verifying their sha256")
        download.add_argument("dataset", help="registered dataset name")
        add_data_dir_argument(download)
        verify = actions.add_parser("verify", help="check present files against their sha256 (exit 1 on mismatch)",
                                    description="check present files against their sha256 (exit 1 on mismatch)")
        verify.add_argument("datasets", nargs="*", help="dataset names (default: every registered dataset)")
        add_data_dir_argument(verify)
        summary = actions.add_parser("summary", help="load a dataset or a CSV and print its summary",
                                     description="load a dataset or a CSV and print its summary")
        add_dataset_arguments(summary)
        add_data_dir_argument(summary)
        summary.add_argument("--tasks", action="store_true", help="also print one line per task")
        corpus = actions.add_parser("corpus", help="featurize an unlabelled pretraining corpus (resumable)",
                                    description="featurize an unlabelled pretraining corpus into a memory-mapped "
                                                "folder, in shards (an interrupted build resumes)")
        corpus.add_argument("sources", nargs="*", default=None,
                            help="registered corpora/task tables/MoleculeNet names or CSV paths "
                                 "(default: moses fsmol-train-full)")
        corpus.add_argument("--out", default=None, help="corpus folder (default: in the graphmeta cache)")
        corpus.add_argument("--shard-size", type=int, default=100_000, help="molecules per shard (default 100000)")
        corpus.add_argument("--n-jobs", type=int, default=-1, help="worker processes (default -1: every CPU)")
        corpus.add_argument("--keep-evaluation", action="store_true",
                            help="keep FS-Mol's validation/test molecules (removed by default)")
        corpus.add_argument("--limit", type=int, default=None, help="first N molecules of each source only (smoke)")
        add_data_dir_argument(corpus)
        corpus.add_argument("--no-progress", action="store_true", help="hide progress bars")
        build = actions.add_parser("build", help="build a derived data file (fsmol-train-full) from upstream files",
                                   description="build a derived data file from upstream files, into the data dir")
        build.add_argument("dataset", choices=["fsmol-train-full"], help="the derived dataset")
        build.add_argument("--source", required=True, help="FS-Mol's datasets/train folder (CHEMBL*.jsonl.gz)")
        add_data_dir_argument(build)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        return getattr(cls, f"_{args.action}")(args)

    @staticmethod
    def _list(args: argparse.Namespace) -> int:
        from graphmeta.data.paths import data_dir
        from graphmeta.data.registry import REGISTRY

        root = data_dir(args.data_dir)
        print(f"data directory: {root}")
        print(f"{'name':<22} {'files':>6} {'present':>8}  description")
        for info in REGISTRY.values():
            present = sum((root / f.path).is_file() for f in info.files)
            print(f"{info.name:<22} {len(info.files):>6} {present:>8}  {info.description}")
        return 0

    @staticmethod
    def _download(args: argparse.Namespace) -> int:
        from graphmeta.data.download import ensure_files
        from graphmeta.data.paths import data_dir
        from graphmeta.data.registry import get_info

        info = get_info(args.dataset)
        root = data_dir(args.data_dir)
        paths = ensure_files(info.files, root, download=True, progress=True)
        print(f"{info.name}: {len(paths)} file(s) verified under {root}")
        print(f"license: {info.license}\ncite: {info.citation}")
        return 0

    @staticmethod
    def _verify(args: argparse.Namespace) -> int:
        from graphmeta.data.download import sha256_file
        from graphmeta.data.paths import data_dir
        from graphmeta.data.registry import REGISTRY, get_info

        root = data_dir(args.data_dir)
        infos = [get_info(name) for name in args.datasets] if args.datasets else list(REGISTRY.values())
        bad = 0
        for info in infos:
            checked, missing, wrong = 0, 0, []
            for remote in {f.path: f for f in info.files}.values():
                local = root / remote.path
                if not local.is_file():
                    missing += 1
                    continue
                checked += 1
                if sha256_file(local) != remote.sha256.lower():
                    wrong.append(str(local))
            bad += len(wrong)
            status = "MISMATCH " + ", ".join(wrong) if wrong else "ok" if checked else "not present"
            print(f"{info.name:<22} {checked} checked, {missing} missing: {status}")
        if bad:
            print(f"{bad} file(s) do not match their sha256: delete them and run `graphmeta data download`")
        return 1 if bad else 0

    @staticmethod
    def _summary(args: argparse.Namespace) -> int:
        collection = load_named_or_csv(args, progress=True)
        print(collection.summary())
        if args.tasks:
            print(collection.task_stats().to_string(index=False))
        return 0

    @staticmethod
    def _corpus(args: argparse.Namespace) -> int:
        import json

        from graphmeta.data.corpus import DEFAULT_SOURCES, build_corpus

        if args.shard_size < 1 or (args.limit is not None and args.limit < 1):
            raise ValueError("--shard-size and --limit must be positive")
        folder = build_corpus(args.sources or DEFAULT_SOURCES, args.out, exclude=() if args.keep_evaluation
                              else ("fsmol",), shard_size=args.shard_size, n_jobs=args.n_jobs,
                              data_dir=args.data_dir, progress=not args.no_progress, limit=args.limit)
        record = json.loads((folder / "corpus.json").read_text())
        parts = ", ".join(f"{k} {v['kept']:,}" for k, v in record["sources"].items())
        print(f"{folder}: {record['molecules']:,} molecules ({parts}); {record['invalid']:,} invalid, "
              f"{record['duplicates']:,} duplicates, {record['excluded_evaluation']:,} FS-Mol evaluation molecules "
              f"removed; {record['graph_bytes'] / 2**20:,.0f} MiB")
        return 0

    @staticmethod
    def _build(args: argparse.Namespace) -> int:
        from graphmeta.data.download import sha256_file
        from graphmeta.data.loaders.fsmol_table import write_fsmol_task_table
        from graphmeta.data.paths import data_dir
        from graphmeta.data.registry import get_info

        remote = get_info(args.dataset).files[0]
        target = data_dir(args.data_dir) / remote.path
        target.parent.mkdir(parents=True, exist_ok=True)
        counts = write_fsmol_task_table(args.source, target)
        actual = sha256_file(target)
        print(f"{target}: {counts['tasks']:,} tasks, {counts['rows']:,} rows; sha256 {actual}")
        if actual != remote.sha256:
            print(f"note: not the registered file (sha256 {remote.sha256}: the 4,935 assays of FS-Mol's snapshot), so "
                  f"load_dataset('{args.dataset}') will refuse it; use it as a task table instead: "
                  f"graphmeta.load_task_table(path, label_column='active') or `graphmeta train {target} "
                  f"--task-column task --target-columns active`")
        return 0
