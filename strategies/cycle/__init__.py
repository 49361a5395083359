"""One run of a strategy: `run` (claim, sandbox, end), `rows` (a run's rows in two statements), `live_log` (its
lines, streamed), `venue_reads` (the script's reads), `desk` (its orders), `reconciliation` (the live ledger
against the venue) and `recovery` (runs whose worker was lost)."""
