"""The router: spend the human budget where a human label is worth most (issues 6 and 16).

`features` (per-item features), `strategies` (baselines, the learned strategy, HyPER), `selection`
(choosing a ranking on the calibration slice), `label_model` (relabeling, opt-in), `leakage` (the
metadata leak guard), `budget` (labels, shares or money; overlap and the calibration slice),
`routing` (plan, apply, re-rank, final AI labels, the estimated curve), `reasons` (why, in words),
`simulate` + `results` (replay on a labelled project: routing only, with the label model, with
shared evidence), `rubric` (routing rubric projects), `synthetic` (the benchmark's synthetic set),
`views` (what the Router page shows); `names` holds the strategy names and defaults. Import the
submodule you need: most load scikit-learn, `names` and `budget` do not.
"""
