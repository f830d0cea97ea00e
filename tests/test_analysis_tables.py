"""Analysis tables show words and rounded numbers: a number the report could not compute (a judge
seen in one A/B order has no position-bias rate) shows as a dash, never as Streamlit's 'None'."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _table_script():
    import pandas as pd

    from pages.analysis_charts import show_table
    show_table(pd.DataFrame({"judge": ["one order", "both orders"], "n_items": [0, 40],
                             "consistent": [float("nan"), 0.8125], "biased_first": [float("nan"), 0.1]}))


def test_a_number_that_could_not_be_computed_shows_as_a_dash():
    at = AppTest.from_function(_table_script).run(timeout=60)
    assert not at.exception
    shown = at.dataframe[0].value
    assert list(shown["consistent"]) == ["–", "0.812"]
    assert list(shown["biased_first"]) == ["–", "0.100"]
    assert list(shown["n_items"]) == [0, 40]
