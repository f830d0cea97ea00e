"""Numbers about labels: agreement statistics, the judge-vs-human report (pairwise and rubric),
bias checks, per-annotator quality, rankings, and the combined verdict of a judge's two orders."""
