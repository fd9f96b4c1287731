"""benchmarks/sequence_throughput.py: without torch it measures pgcli alone and says how to get torch."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sequence_throughput  # noqa: E402


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_without_torch_the_torch_side_is_skipped_with_a_note(capsys):
    rows = sequence_throughput.measure(seconds=0.02, rounds=1)
    assert "torch is not installed" in capsys.readouterr().out
    assert [row["figure"].split(",")[-1].strip() for row in rows] == ["float32"] * 2 + ["float64"] * 2
    main = [row for row in rows if "rloo gradient estimates/s" in row["figure"]]
    assert len(main) == 2 and all(math.isnan(row["ratio"]) and row["value"] > 0 for row in main)
