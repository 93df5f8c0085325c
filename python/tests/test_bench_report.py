"""The benchmark report's target checks (``benchmarks/report.py``), on made-up rows: which figures a
target is judged by, and what the interleaved table shows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import report  # noqa: E402 - after the path is set


def row(alt: str, op: str, size: int, p50: float) -> dict:
    return dict(alternative=alt, label=alt, op=op, size=size, p50_us=p50, p99_us=p50 * 2, calls_per_s=1e6 / p50,
                samples=10, client_cpu_us=0, server_cpu_us=0)


def sum_target(rows: list[dict]) -> tuple[str, bool | None]:
    targets = report._targets(report._index(rows), ["shmcall", "ctypes"])
    return next((value, ok) for label, value, ok in targets if label.startswith("sum 1e7 no slower"))


def test_the_sum_target_is_judged_by_the_interleaved_ratio_when_there_is_one():
    sequential = [row("shmcall", "sum", 10_000_000, 2600.0), row("ctypes", "sum", 10_000_000, 2000.0)]
    assert sum_target(sequential) == ("1.30× ctypes time", False)
    interleaved = [row("shmcall", "interleaved sum", 10_000_000, 2040.0), row("ctypes", "interleaved sum", 10_000_000, 2000.0)]
    value, ok = sum_target(sequential + interleaved)
    assert ok is True
    assert value == "1.02× ctypes time, interleaved (pooled p50s); 1.30× in the tables below, timed minutes apart"


def test_the_sum_target_is_judged_by_the_paired_rounds_when_a_run_has_them():
    interleaved = [row("shmcall", "interleaved sum", 10_000_000, 2300.0), row("ctypes", "interleaved sum", 10_000_000, 2000.0)]
    interleaved[0].update(round_ratio_p50=1.031, round_ratio_q1=0.96, round_ratio_q3=1.09)
    value, ok = sum_target(interleaved)
    assert ok is True, "pooled p50s 1.15x, but the rounds side by side say 1.03x"
    assert value == "1.031× ctypes time, interleaved: median of the paired rounds (quartiles 0.96–1.09); pooled p50s 1.15×"
    interleaved[0]["round_ratio_p50"] = 1.0501
    assert sum_target(interleaved)[1] is False


def test_a_latency_just_over_its_target_shows_by_how_much():
    targets = report._targets(report._index([row("shmcall", "hello_person", 1, 1.0012)]), ["shmcall"])
    assert ("hello_person p50 ≤ 1.0 µs", "1.001 µs", False) in targets


def test_interleaved_rows_get_their_own_table_and_no_section_of_their_own(tmp_path):
    rows = [row("shmcall", "add", 1, 0.7), row("ctypes", "add", 1, 1.1),
            row("shmcall", "interleaved add", 1, 0.7), row("ctypes", "interleaved add", 1, 1.4)]
    report.write_report(tmp_path, rows, [], "test machine", "run.py")
    text = (tmp_path / "report.md").read_text()
    assert "| add | 1 | 0.70 | 1.40 | 0.50× |  | 1.40 | 2.80 |" in text
    rows[2].update(round_ratio_p50=0.48, round_ratio_q1=0.45, round_ratio_q3=0.52)
    report.write_report(tmp_path, rows, [], "test machine", "run.py")
    assert "| add | 1 | 0.70 | 1.40 | 0.50× | 0.480× (0.45–0.52) | 1.40 | 2.80 |" in (tmp_path / "report.md").read_text()
    assert "## interleaved add" not in text
