"""People labeling: accounts and login, the queue and assignment with leases, recording labels
(append-only events), and the label screen's logic: forms (which item a submit is for), screen
(what one action does), item_text (untrusted text made safe to show) and textdiff (highlighting)."""
