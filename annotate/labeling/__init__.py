"""People labeling: accounts and login, the queue and assignment with leases, recording labels
(append-only events), and the word diff the label screen highlights."""
