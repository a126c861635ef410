"""The README's performance figures are quoted from BENCHMARKS.md, never typed by hand:
every number in the README's figures block stands in BENCHMARKS.md too, and the block is
what benchmarks/readme_figures.py writes."""

import re
from pathlib import Path

from benchmarks import readme_figures

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def test_every_figure_in_the_readme_stands_in_benchmarks_md():
    quoted = readme_figures.block((ROOT / "README.md").read_text())
    measured = (ROOT / "BENCHMARKS.md").read_text()
    assert [n for n in NUMBER.findall(quoted) if n not in measured] == []


def test_the_block_is_rewritten_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{readme_figures.START}\nold 1.23x\n{readme_figures.END}\n\nrest\n")
    readme_figures.write(readme, ["new 4.56x"])
    assert readme.read_text() == f"# x\n\n{readme_figures.START}\nnew 4.56x\n{readme_figures.END}\n\nrest\n"


def test_the_figures_quote_the_numbers_as_benchmarks_md_prints_them():
    machine = {"date": "2026-12-07 04:00 UTC", "commit": "abc1234", "cores": 2, "load_average_before": (0.3, 0, 0),
               "load_average_after": (0.4, 0, 0)}
    dedup = {"speedup": 1.8765, "duplicate_rows": 120, "rows": 400}
    lines = readme_figures.figures({"dedup": {"returncode": 0, "results": dedup}}, machine)
    assert "1.88x the rows/s with 120 of 400 rows repeated" in "\n".join(lines)
    assert "commit abc1234" in lines[0] and "load average 0.3 before and 0.4 after" in lines[0]


def test_a_section_re_run_says_which_sections_it_re_ran_and_when():
    machine = {"date": "2026-12-07 05:00 UTC", "commit": "def5678", "cores": 2, "load_average_before": (0.3, 0, 0),
               "load_average_after": (0.4, 0, 0)}
    dedup = {"speedup": 1.5, "duplicate_rows": 120, "rows": 400}
    lines = readme_figures.figures({"dedup": {"returncode": 0, "results": dedup}}, machine, rerun=["label_ceiling"])
    assert "each section as dated there; label ceiling re-run on 2026-12-07 05:00 UTC, commit def5678" in lines[0]
    assert "1.50x the rows/s" in "\n".join(lines)
