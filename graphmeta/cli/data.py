"""``graphmeta data``: list, download, verify and summarize datasets.

- ``graphmeta data list``: the registered datasets, their files and whether they are present;
- ``graphmeta data download NAME``: fetch a dataset's files into the data directory (sha256 verified);
- ``graphmeta data verify [NAME ...]``: check present files against their sha256 (exit 1 on a mismatch);
- ``graphmeta data summary NAME|CSV``: load a dataset (or any CSV) and print what it holds.
"""

from __future__ import annotations

import argparse

from graphmeta.cli.base import Subcommand, add_data_dir_argument, add_dataset_arguments, load_named_or_csv


class DataCommand(Subcommand):
    name = "data"
    help = "list, download, verify or summarize datasets"

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
