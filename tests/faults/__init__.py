"""Fault tests: the real worker and beat processes while Redis or Postgres restarts under them."""
