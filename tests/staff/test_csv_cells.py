"""What finance downloads opens in a spreadsheet as figures, never as formulas."""

from __future__ import annotations

import csv
import io

from penaltypay.staff.pages import csv_response


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_negative_amounts_stay_numbers_and_formulas_stay_text():
    response = csv_response(
        ["amount", "reference", "note"],
        iter([[-4000, '=HYPERLINK("http://x")', "-1+1"], [2.5, "+44 20", "@SUM(A1)"], [True, "plain", ""]]),
        "x.csv",
    )
    assert rows_of(response)[1:] == [
        ["-4000", '\'=HYPERLINK("http://x")', "'-1+1"],
        ["2.5", "'+44 20", "'@SUM(A1)"],
        ["True", "plain", ""],
    ]
