"""The command line: demo on the embedded data, `data` (list, verify, summary), clean errors."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import graphmeta
from graphmeta.cli.main import SUBCOMMANDS, SubcommandSpec, build_parser, main


@pytest.mark.slow
def test_demo_trains_and_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--steps", "4", "--draws", "2", "--hidden", "16", "--layers", "2", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tox21: 7,831 graphs x 12 binary task(s)" in out
    assert "test tasks: SR-HSE, SR-MMP, SR-p53" in out
    table = out[out.index("10-shot ROC-AUC"):]
    for column in ("ProtoNet", "MAML", "RF (ECFP4)", "kNN (ECFP4)"):
        assert column in table
    for row in ("SR-HSE", "SR-MMP", "SR-p53", "mean"):
        assert row in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["scores"]["MAML"]) == 6 and all(0 <= v <= 1 for v in results["scores"]["ProtoNet"])
    assert (tmp_path / "maml" / "best.pt").is_file()


def test_summary_of_csv_with_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("name,smi,act,other\na,CCO,1,x\nb,CN,0,y\n")
    assert main(["data", "summary", str(path), "--smiles-column", "smi", "--target-columns", "act", "--tasks"]) == 0
    out = capsys.readouterr().out
    assert "2 graphs x 1 binary task(s)" in out and "act" in out


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "summary", "qm9"]) == 2
    assert "unknown dataset 'qm9'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,y\nCCO,maybe\n")
    assert main(["data", "summary", str(bad)]) == 2
    assert "row 2, column 'y'" in capsys.readouterr().err


def test_data_list_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from graphmeta.data.registry import get_info

    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "tox21" in out and "TRIANGLES" in out and "fsmol" in out
    remote = get_info("sider").files[0]
    local = tmp_path / remote.path
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("not the real file\n")
    assert main(["data", "verify", "sider", "tox21", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and str(local) in out and "not present" in out
    local.unlink()
    assert main(["data", "verify", "sider", "--data-dir", str(tmp_path)]) == 0


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "graphmeta", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("graphmeta ")


def test_help_version_and_plain_import_need_neither_torch_nor_rdkit() -> None:
    """``graphmeta --help`` took 6.8 s importing torch and PyG, ``predict --help`` 9 s; they, ``--version``, the
    help of ``evaluate`` and ``embed``, an unknown subcommand and ``import graphmeta`` now import neither (each
    subcommand's module loads only when it is named; the choices they list live in graphmeta.choices)."""
    script = ("import sys, contextlib, io\n"
              "import graphmeta\n"
              "from graphmeta.cli.main import main\n"
              "for argv in (['--help'], ['--version'], ['data', '--help'], ['predict', '--help'],\n"
              "             ['evaluate', '--help'], ['embed', '--help'], ['nonsense']):\n"
              "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
              "        try:\n"
              "            main(argv)\n"
              "        except SystemExit:\n"
              "            pass\n"
              "print(sorted(m for m in ('torch', 'torch_geometric', 'rdkit') if m in sys.modules))\n"
              "print(graphmeta.TaskSplit.__name__, 'load_dataset' in dir(graphmeta))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded, public = proc.stdout.splitlines()
    assert loaded == "[]"
    assert public == "TaskSplit True"  # the public API still resolves, on first use
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        graphmeta.nothing_here


@pytest.mark.parametrize("spec", SUBCOMMANDS, ids=lambda spec: spec.name)
def test_every_subcommand_help_ends_with_an_example_that_parses(
        spec: SubcommandSpec, capsys: pytest.CaptureFixture[str]) -> None:
    words = shlex.split(spec.example)
    assert words[:2] == ["graphmeta", spec.name]
    build_parser(words[1:]).parse_args(words[1:])  # exits (status 2) on an unknown flag or a missing argument
    with pytest.raises(SystemExit) as exit_info:
        main([spec.name, "--help"])
    assert exit_info.value.code == 0
    assert f"example:\n  {spec.example}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "benchmark", "pretrain", "demo"])
def test_model_size_flags_are_spelled_alike_everywhere(command: str) -> None:
    """--hidden-channels/--num-layers (pretrain's, and chemprop's style) work wherever --hidden/--layers do."""
    lead = {"train": ["train", "tox21", "--out", "run"], "benchmark": ["benchmark", "tox21"]}.get(command, [command])
    long_form = build_parser(lead).parse_args([*lead, "--hidden-channels", "32", "--num-layers", "2"])
    short_form = build_parser(lead).parse_args([*lead, "--hidden", "32", "--layers", "2"])
    assert vars(long_form) == vars(short_form)


def test_column_flags_take_chemprop_spellings() -> None:
    lead = ["predict", "--support", "s.csv", "--query", "q.csv"]
    chemprop = build_parser(lead).parse_args([*lead, "--smiles-columns", "smi", "--target-columns", "active"])
    ours = build_parser(lead).parse_args([*lead, "--smiles-column", "smi", "--label-column", "active"])
    assert vars(chemprop) == vars(ours) and ours.label_column == "active" and ours.smiles_column == "smi"
    train = ["train", "data.csv", "--out", "run"]
    assert build_parser(train).parse_args([*train, "--smiles-columns", "smi"]).smiles_column == "smi"


def test_predict_shows_featurization_progress_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from graphmeta.cli.predict import _query_inputs
    from graphmeta.data.featurize import MoleculeFeaturizer

    smiles = ["CCO", "c1ccccc1O", "CCN"] * 20
    for terminal in (False, True):
        monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
        inputs, invalid = _query_inputs(Path("q.csv"), smiles, MoleculeFeaturizer(), "error")
        assert len(inputs) == 60 and not invalid
        assert ("featurizing" in capsys.readouterr().err) == terminal
