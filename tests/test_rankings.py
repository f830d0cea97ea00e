"""Bradley-Terry ratings, their bootstrap, Kendall tau between rankings and win rates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from annotate.analysis import rankings


def tournament(results: dict[tuple[str, str], tuple[int, int, int]]) -> pd.DataFrame:
    """Games from {(a, b): (a wins, ties, b wins)}, one item per game."""
    rows = []
    for (a, b), (wins, ties, losses) in results.items():
        rows += [(a, b, -1)] * wins + [(a, b, 0)] * ties + [(a, b, 1)] * losses
    games = pd.DataFrame(rows, columns=["model_a", "model_b", "code"])
    games.insert(0, "item_id", range(len(games)))
    return games


KNOWN_ORDER = tournament({("a", "b"): (7, 1, 2), ("a", "c"): (8, 0, 2), ("a", "d"): (9, 1, 0),
                          ("b", "c"): (6, 2, 2), ("b", "d"): (7, 0, 3), ("c", "d"): (6, 1, 3)})


def test_bradley_terry_recovers_the_known_order_and_solves_the_likelihood_equations():
    ratings = rankings.rate_models(KNOWN_ORDER, "humans")
    assert ratings["model"].tolist() == ["a", "b", "c", "d"]
    assert ratings["converged"].all() and ratings["rating"].mean() == pytest.approx(1000)
    # At the maximum the expected wins equal the observed ones (Hunter 2004, eq. 2), ties as half.
    models = ["a", "b", "c", "d"]
    wins = rankings.win_matrix(KNOWN_ORDER, models)
    p = 10 ** ((ratings.set_index("model").loc[models, "rating"].to_numpy() - 1000) / 400)
    expected = ((wins + wins.T) * p[:, None] / (p[:, None] + p[None, :])).sum(axis=1)
    assert expected == pytest.approx(wins.sum(axis=1), abs=1e-6)


def test_two_models_rating_gap_is_400_log10_of_the_odds():
    ratings = rankings.rate_models(tournament({("x", "y"): (3, 0, 1)}), "humans").set_index("model")
    assert ratings.loc["x", "rating"] - ratings.loc["y", "rating"] == pytest.approx(400 * np.log10(3))


def test_ties_count_as_half_a_win():
    ratings = rankings.rate_models(tournament({("x", "y"): (1, 2, 1)}), "humans")
    assert ratings["rating"].tolist() == pytest.approx([1000, 1000])
    lopsided = rankings.rate_models(tournament({("x", "y"): (1, 2, 0)}), "humans").set_index("model")
    assert lopsided.loc["x", "rating"] - lopsided.loc["y", "rating"] == pytest.approx(400 * np.log10(2 / 1))


def test_matches_chatbot_arena_logistic_regression():
    # FastChat's compute_mle_elo: logistic regression on +-log(10) indicators, each tie entered
    # once as a win and once as a loss; without a penalty it is the same likelihood.
    models = ["a", "b", "c", "d"]
    rows, outcomes = [], []
    for a, b, code in KNOWN_ORDER[["model_a", "model_b", "code"]].itertuples(index=False):
        x = np.zeros(len(models))
        x[models.index(a)], x[models.index(b)] = np.log(10), -np.log(10)
        for y in ([1, 1] if code < 0 else [0, 0] if code > 0 else [1, 0]):
            rows.append(x)
            outcomes.append(y)
    fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000)
    fit.fit(np.array(rows), np.array(outcomes))
    arena = 400 * fit.coef_[0]
    ours = rankings.rate_models(KNOWN_ORDER, "humans").set_index("model").loc[models, "rating"].to_numpy()
    assert ours - ours.mean() == pytest.approx(arena - arena.mean(), abs=1e-3)


def test_a_model_that_never_wins_has_no_finite_rating():
    ratings = rankings.rate_models(tournament({("x", "y"): (3, 0, 0), ("y", "z"): (1, 0, 1)}), "judge")
    assert ratings["rating"].isna().all()
    assert ratings["reason"].str.contains("never wins").all()


def test_bootstrap_interval_is_seeded_and_contains_the_estimate():
    first = rankings.rate_models(KNOWN_ORDER, "humans", n_boot=200, seed=1)
    again = rankings.rate_models(KNOWN_ORDER, "humans", n_boot=200, seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert (first["rating_lo"] <= first["rating"]).all() and (first["rating"] <= first["rating_hi"]).all()
    assert (first["rating_hi"] > first["rating_lo"]).all()


def test_kendall_tau_between_human_and_judge_rankings():
    reversed_games = KNOWN_ORDER.assign(code=-KNOWN_ORDER["code"])
    ratings = pd.concat([rankings.rate_models(KNOWN_ORDER, "humans"),
                         rankings.rate_models(KNOWN_ORDER, "same-judge"),
                         rankings.rate_models(reversed_games, "contrary-judge")])
    tau = rankings.ranking_agreement(ratings, "humans").set_index("source")
    assert tau.loc["same-judge", "kendall_tau"] == pytest.approx(1.0)
    assert tau.loc["contrary-judge", "kendall_tau"] == pytest.approx(-1.0)
    assert tau.loc["same-judge", "n_models"] == 4


def test_win_rate_matrix_counts_ties_as_half():
    rates = rankings.win_rates(tournament({("x", "y"): (2, 2, 0)}), "humans").set_index(["model", "opponent"])
    assert rates.loc[("x", "y"), "win_rate"] == pytest.approx(0.75)
    assert rates.loc[("y", "x"), "win_rate"] == pytest.approx(0.25)
    assert rates.loc[("x", "y"), "games"] == 4


def test_an_unfinished_fit_says_it_did_not_converge():
    wins = rankings.win_matrix(KNOWN_ORDER, ["a", "b", "c", "d"])
    _, converged, iterations = rankings.fit_bradley_terry(wins, max_iter=2)
    assert not converged and iterations == 2
    _, converged, iterations = rankings.fit_bradley_terry(wins)
    assert converged and 2 < iterations < 10_000
