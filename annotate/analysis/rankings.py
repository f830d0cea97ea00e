"""Model rankings from pairwise preferences: Bradley-Terry ratings with bootstrap intervals,
Kendall's tau between the human and each judge's ranking, and a win-rate matrix.

Bradley-Terry (Bradley & Terry 1952): P(i beats j) = p_i / (p_i + p_j). It is fitted by the MM
algorithm of Hunter (2004, "MM algorithms for generalized Bradley-Terry models", Ann. Statist.
32(1), doi:10.1214/aos/1079120141, eq. 3): p_i <- W_i / sum_j N_ij / (p_i + p_j), where W_i is
i's wins and N_ij the games between i and j, renormalised to a geometric mean of 1 after every
step. A tie counts as half a win for each side (as Chatbot Arena does). The iteration stops when
no log-strength moves by more than `tol`; a fit that has not converged by `max_iter` says so
(crowd-kit's BradleyTerry stops after two iterations, see STYLE.md, so convergence is tested
here, not assumed). The maximum-likelihood estimate exists only when every model beats, at
least by half a win, a path to every other (Hunter's assumption 1: the "beats" graph is strongly
connected); otherwise no finite ratings exist and the result says so.

Ratings use the Chatbot Arena scale (Chiang et al. 2024, arXiv 2403.04132; FastChat's
compute_mle_elo): rating = 1000 + 400 log10(p), so a 400-point gap means 10:1 odds; the mean
rating is 1000.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from annotate.analysis.agreement import bootstrap_sums, percentile_interval

SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
RATING_COLUMNS = ["source", "model", "rating", "rating_lo", "rating_hi", "rank", "games", "converged",
                  "iterations", "reason"]


def win_matrix(games: pd.DataFrame, models: list[str]) -> np.ndarray:
    """W[i, j] = wins of model i over model j, a tie counting half to each.

    Args:
        games: model_a, model_b, code (-1: A won, 0: tie, 1: B won), one row per game.
    """
    a, b = _model_index(games, models)
    code = games["code"].to_numpy(dtype=float)
    wins = np.zeros((len(models), len(models)))
    np.add.at(wins, (a, b), (code < 0) + 0.5 * (code == 0))
    np.add.at(wins, (b, a), (code > 0) + 0.5 * (code == 0))
    return wins


def _clean_games(games: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop games with a missing model or outcome and self-play; return them and the sorted models."""
    games = games.dropna(subset=["model_a", "model_b", "code"])
    games = games[games["model_a"].to_numpy(dtype=object) != games["model_b"].to_numpy(dtype=object)]
    models = sorted(set(pd.unique(games["model_a"])) | set(pd.unique(games["model_b"])))
    return games, models


def _model_index(games: pd.DataFrame, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of each game's model_a and model_b in `models` (vectorised, no per-row lookups)."""
    codes = [pd.Categorical(games[column], categories=models).codes for column in ("model_a", "model_b")]
    return codes[0].astype(np.intp), codes[1].astype(np.intp)


def is_strongly_connected(wins: np.ndarray) -> bool:
    """Hunter's condition for finite Bradley-Terry estimates: every model reaches every other
    along edges i -> j where i has (at least half) a win over j."""
    n_comp, _ = connected_components(csr_matrix(wins > 0), directed=True, connection="strong")
    return n_comp == 1


def fit_bradley_terry(wins: np.ndarray, tol: float = 1e-9,
                      max_iter: int = 10_000) -> tuple[np.ndarray, np.ndarray, int]:
    """Fit strengths for a batch of win matrices by Hunter's MM iteration.

    Args:
        wins: (m, m) or (B, m, m) win matrices (ties as half wins), each strongly connected.

    Returns:
        (log10 strengths with mean 0, converged flags, iterations), batched like `wins`.
    """
    single = wins.ndim == 2
    w = wins[None] if single else wins
    games = w + np.swapaxes(w, 1, 2)
    total_wins = w.sum(axis=2)
    log_p = np.zeros(w.shape[:2])
    converged = np.zeros(len(w), dtype=bool)
    iterations = 0
    for iterations in range(1, max_iter + 1):
        p = np.exp(log_p)
        denom = (games / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        with np.errstate(divide="ignore"):
            new = np.log(total_wins) - np.log(denom)
        new -= new.mean(axis=1, keepdims=True)
        step = np.abs(new - log_p).max(axis=1)
        log_p = np.where(converged[:, None], log_p, new)
        converged |= step < tol
        if converged.all():
            break
    log10 = log_p / np.log(BASE)
    return (log10[0], converged[0], iterations) if single else (log10, converged, iterations)


def rate_models(games: pd.DataFrame, source: str, n_boot: int = 0, seed: int = 0) -> pd.DataFrame:
    """Bradley-Terry ratings of the models in `games` on the Arena scale, with percentile
    bootstrap intervals over items (all games of an item are resampled together).

    Args:
        games: item_id, model_a, model_b, code (-1 A won, 0 tie, 1 B won).
        source: the name written in the `source` column (e.g. 'humans' or a judge).

    Returns:
        RATING_COLUMNS, best first; NaN ratings with a reason when no finite fit exists.
    """
    games, models = _clean_games(games)
    base = {"source": source, "rating_lo": np.nan, "rating_hi": np.nan, "converged": False, "iterations": 0}
    if len(models) < 2:
        return pd.DataFrame([base | {"model": m, "rating": np.nan, "rank": np.nan, "games": 0,
                                     "reason": "fewer than two models compared"} for m in models],
                            columns=RATING_COLUMNS)
    wins = win_matrix(games, models)
    counts = (wins + wins.T).sum(axis=1)
    if not is_strongly_connected(wins):
        return pd.DataFrame([base | {"model": m, "rating": np.nan, "rank": np.nan, "games": counts[k],
                                     "reason": "no finite Bradley-Terry fit: some model never wins (or never "
                                               "loses) against the rest"} for k, m in enumerate(models)],
                            columns=RATING_COLUMNS)
    log10, converged, iterations = fit_bradley_terry(wins)
    rating = INIT_RATING + SCALE * log10
    lo, hi = _bootstrap_ratings(games, models, n_boot, seed) if n_boot else (rating * np.nan, rating * np.nan)
    frame = pd.DataFrame({"source": source, "model": models, "rating": rating, "rating_lo": lo, "rating_hi": hi,
                          "games": counts, "converged": bool(converged), "iterations": iterations,
                          "reason": None if converged else "did not converge"})
    frame["rank"] = frame["rating"].rank(ascending=False, method="min")
    return frame.sort_values("rating", ascending=False)[RATING_COLUMNS].reset_index(drop=True)


def _bootstrap_ratings(games: pd.DataFrame, models: list[str], n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample items, refit each resample's win matrix; resamples without a finite fit are dropped."""
    m = len(models)
    items, item_row = np.unique(games["item_id"].to_numpy(), return_inverse=True)
    a, b = _model_index(games, models)
    code = games["code"].to_numpy(dtype=float)
    per_item = np.zeros((len(items), m * m))
    np.add.at(per_item, (item_row, a * m + b), (code < 0) + 0.5 * (code == 0))
    np.add.at(per_item, (item_row, b * m + a), (code > 0) + 0.5 * (code == 0))
    used = np.flatnonzero(per_item.any(axis=0))
    sums = np.zeros((n_boot, m * m))
    sums[:, used] = bootstrap_sums(per_item[:, used], n_boot, seed)
    wins = sums.reshape(n_boot, m, m)
    ok = np.array([is_strongly_connected(w) for w in wins])
    ratings = np.full((n_boot, m), np.nan)
    if ok.any():
        log10, converged, _ = fit_bradley_terry(wins[ok])
        ratings[np.flatnonzero(ok)[converged]] = INIT_RATING + SCALE * log10[converged]
    return percentile_interval(ratings)


def win_rates(games: pd.DataFrame, source: str) -> pd.DataFrame:
    """Win-rate matrix in tidy form: source, model, opponent, games, win_rate (ties as half)."""
    games, models = _clean_games(games)
    wins = win_matrix(games, models)
    played = wins + wins.T
    rows = [{"source": source, "model": mi, "opponent": mj, "games": played[i, j],
             "win_rate": wins[i, j] / played[i, j]}
            for i, mi in enumerate(models) for j, mj in enumerate(models) if i != j and played[i, j] > 0]
    return pd.DataFrame(rows, columns=["source", "model", "opponent", "games", "win_rate"])


def ranking_agreement(ratings: pd.DataFrame, reference: str = "humans") -> pd.DataFrame:
    """Kendall's tau-b (scipy.stats.kendalltau) between the reference ranking and every other
    source's, over the models both rate: source, kendall_tau, p_value, n_models, reason."""
    ref = ratings[ratings["source"] == reference].set_index("model")["rating"].dropna()
    rows = []
    for source in [s for s in ratings["source"].unique() if s != reference]:
        other = ratings[ratings["source"] == source].set_index("model")["rating"].dropna()
        common = ref.index.intersection(other.index)
        row = {"source": source, "kendall_tau": np.nan, "p_value": np.nan, "n_models": len(common), "reason": None}
        if len(common) < 2:
            row["reason"] = f"{len(common)} models rated by both {reference} and {source}; 2 are needed"
        else:
            tau, p = stats.kendalltau(ref[common], other[common])
            row |= {"kendall_tau": float(tau), "p_value": float(p)}
        rows.append(row)
    return pd.DataFrame(rows, columns=["source", "kendall_tau", "p_value", "n_models", "reason"])
