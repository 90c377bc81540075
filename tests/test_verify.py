"""python -m toygan.verify: runs claims, writes the report, and docs/verified.md lists them
all."""

from __future__ import annotations

import json
import re
from pathlib import Path

from toygan.verify import all_claims, main

VERIFIED_DOC = Path(__file__).resolve().parents[1] / "docs" / "verified.md"


def test_quick_verify_of_two_claims_writes_the_report(tmp_path, capsys):
    assert main(["--quick", "--only", "lemma_prop1,thm1_identity", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["name"] for r in report["results"]] == ["lemma_prop1", "thm1_identity"]
    assert all(r["passed"] for r in report["results"])
    assert "| `thm1_identity` |" in (tmp_path / "report.md").read_text()
    assert "2/2 claims hold" in capsys.readouterr().out


def test_unknown_claim_is_a_usage_error(tmp_path, capsys):
    assert main(["--only", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim(s) nope" in capsys.readouterr().err


def test_a_failing_claim_makes_the_exit_code_non_zero(tmp_path, monkeypatch):
    from toygan import verify
    from toygan.claims import Claim, ClaimResult

    def failing(quick, out_dir):
        return ClaimResult("broken", "nowhere", "fails", 1.0, "<= 0", False)

    monkeypatch.setattr(verify, "all_claims", lambda: [Claim("broken", "-", "-", failing)])
    assert main(["--out", str(tmp_path)]) == 1


def test_quick_leaves_the_full_only_claims_out_and_says_so(tmp_path, monkeypatch, capsys):
    from toygan import verify
    from toygan.claims import Claim, ClaimResult

    ran = []

    def check(name):
        def measure(quick, out_dir):
            ran.append((name, quick))
            return ClaimResult(name, "-", "-", 0.0, "<= 1", True)
        return measure

    monkeypatch.setattr(verify, "all_claims", lambda: [
        Claim("short", "-", "-", check("short")),
        Claim("hours", "-", "-", check("hours"), full_only=True)])
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    assert ran == [("short", True)]
    assert json.loads((tmp_path / "report.json").read_text())["not_run"] == ["hours"]
    assert "Not run in --quick (full verify only): hours." in \
        (tmp_path / "report.md").read_text()
    assert "not run in --quick (full verify only): hours" in capsys.readouterr().out
    ran.clear()
    assert main(["--out", str(tmp_path)]) == 0
    assert ran == [("short", False), ("hours", False)]


def test_a_claim_stopped_by_sigterm_exits_143_without_a_report(tmp_path, monkeypatch,
                                                               capsys):
    import signal

    from toygan import verify
    from toygan.claims import Claim
    from toygan.interrupts import Interrupted

    def stopped(quick, out_dir):
        raise Interrupted(signal.SIGTERM, saved_step=10)

    monkeypatch.setattr(verify, "all_claims", lambda: [Claim("long", "-", "-", stopped)])
    assert main(["--out", str(tmp_path / "r")]) == 143
    assert "interrupted; no report written" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.md").exists()


def test_docs_list_every_verified_claim():
    section = VERIFIED_DOC.read_text().split("## What is verified", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M))
    assert listed == {c.name for c in all_claims()}


def test_an_empty_only_is_refused_not_read_as_all(tmp_path, capsys):
    assert main(["--quick", "--only", "", "--out", str(tmp_path / "r")]) == 2
    assert "names no claim" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_new_report_removes_the_figures_of_the_earlier_one_only(tmp_path):
    out = tmp_path / "r"
    assert main(["--quick", "--only", "prop2_descent,lemma_prop1", "--out", str(out)]) == 0
    assert (out / "prop2_jsd.png").is_file()
    (out / "notes.txt").write_text("mine")
    assert main(["--quick", "--only", "lemma_prop1", "--out", str(out)]) == 0
    assert not (out / "prop2_jsd.png").exists()
    assert (out / "notes.txt").read_text() == "mine"
