"""The router: spend the human budget where a human label is worth most (issue 6).

`features` (per-item features), `strategies` (gains and AI labels), `budget` (labels, shares or
money; overlap and the calibration slice), `routing` (plan, apply, re-rank, final AI labels) and
`simulate` (replay on a labelled project and score the final labels against gold); `names` holds
the strategy names and defaults. Import the submodule you need: `routing` and `strategies` load
scikit-learn, `names` and `budget` do not.
"""
