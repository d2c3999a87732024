"""The subcommands' wiring: stdout carries manifests or the report, stderr one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from siptrunk_operator import cli
from siptrunk_operator.inventory import commands
from siptrunk_operator.inventory.errors import InventoryError
from siptrunk_operator.inventory.listing import ApiTarget
from siptrunk_operator.inventory.progress import Progress
from siptrunk_operator.models import SipTrunk

FIXTURE = Path(__file__).parents[1] / "fixtures" / "terraform" / "terraform.tfstate"


def test_import_terraform_prints_one_manifest_per_instance(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["import-terraform", str(FIXTURE), "--namespace", "telephony"]) == 0
    out, err = capsys.readouterr()
    documents = list(yaml.safe_load_all(out))
    assert len(documents) == 6 and err == ""
    assert {doc["metadata"]["namespace"] for doc in documents} == {"telephony"}
    assert "# terraform: module.telephony.google_dialogflow_sip_trunk.edge[\"backup\"]" in out


def test_output_dir_writes_one_file_per_trunk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.plugin_main(["import-terraform", str(FIXTURE), "--output-dir", str(tmp_path / "out")]) == 0
    files = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert len(files) == 6 and "carrier-a-primary.yaml" in files
    out, err = capsys.readouterr()
    assert out == "" and err == f"wrote 6 manifests to {tmp_path / 'out'}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: cannot read {path}: No such file or directory\n"),
        ("{not json", "error: {path} is not a JSON Terraform state (Expecting property name enclosed in double "
                      "quotes: line 1 column 2 (char 1))\n"),
        ('{"version": 3}', "error: unsupported Terraform state version 3: pass a state file (version 4, Terraform "
                           "0.12 and later) or `terraform show -json` output\n"),
    ],
)
def test_unreadable_states_give_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                                         message: str) -> None:
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["import-terraform", str(path)]) == 1
    assert capsys.readouterr() == ("", message.format(path=path))


def test_export(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[ApiTarget] = []

    def fetch(target: ApiTarget, progress: Progress) -> list[SipTrunk]:
        asked.append(target)
        return [SipTrunk(name="projects/p-proj/locations/europe-west3/sipTrunks/abc",
                         expected_hostname=["a.example.com"], display_name="A")]

    monkeypatch.setattr(commands, "fetch_trunks", fetch)
    assert cli.main(["export", "--project", "p-proj", "--location", "europe-west3", "--observe-only",
                     "--credentials", "key.json"]) == 0
    assert asked == [ApiTarget("p-proj", "europe-west3", Path("key.json"), any_location=False)]
    [document] = yaml.safe_load_all(capsys.readouterr().out)
    assert document["spec"]["managementPolicy"] == "ObserveOnly"


def test_export_of_an_empty_location_warns(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "fetch_trunks", lambda target, progress: [])
    assert cli.main(["export", "--project", "p-proj"]) == 0
    assert capsys.readouterr() == ("", "warning: no trunks in projects/p-proj/locations/global\n")


def test_failures_are_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def fail(target: ApiTarget, progress: Progress) -> list[SipTrunk]:
        raise InventoryError("permission denied: the credentials lack dialogflow.siptrunks.list\non it")

    monkeypatch.setattr(commands, "fetch_trunks", fail)
    for command in (["export"], ["audit"]):
        assert cli.main([*command, "--project", "p-proj"]) == 1
        assert capsys.readouterr() == ("", "error: permission denied: the credentials lack dialogflow.siptrunks.list "
                                           "on it\n")


def test_audit_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        commands.plugin_main(["audit", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: kubectl siptrunk audit")
    for line in ("0   every trunk", "1   the audit could not run", "4   orphaned", "8   missing", "16  duplicated",
                 "32  conflicting"):
        assert line in out
