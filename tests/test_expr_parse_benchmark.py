"""benchmarks/expr_parse.py runs and prints a row per shape and length (no timing is checked)."""

from benchmarks import expr_parse


def test_the_parse_benchmark_prints_a_row_per_shape_and_length(capsys):
    assert expr_parse.main(["--repeats", "1", "--sizes", "9000,12000"]) == 0
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert [row.split(" | ")[:2] for row in rows[1:]] == [
        [f"| {shape}", f"{len(expr_parse.SHAPES[shape](n)):,}"]
        for shape in expr_parse.SHAPES
        for n in (9000, 12000)
    ]
    assert all(len(expr_parse.SHAPES[shape](n)) <= n for shape in expr_parse.SHAPES for n in (9, 999_999))
