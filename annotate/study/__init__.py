"""Crowd studies: public study links, anonymous participants, attention checks, training, payment.

Import the modules directly (this package file stays empty so that annotate.config can import
`annotate.study.settings` without loading the store): `links` (open / revoke the link),
`participants` (enter through the link, sessions, consent, exclusion), `checks` (check and
training items), `flow` (the participant's next item and submit with feedback), `reports`
(status, the participants CSV, check answers, fast labels). See /work/notes/study_api.md.
"""
