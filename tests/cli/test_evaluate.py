"""``cytowords evaluate``: the command's text (its runs are in tests/training/evaluate)."""

from __future__ import annotations

import pytest

from cytowords.cli import main


def test_help_prints_percent_signs_once(capsys):
    """argparse does not %-format a description: '95 %%' would be printed as it is."""
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "metrics with 95 % bootstrap intervals over brains" in out
    assert "%%" not in out
