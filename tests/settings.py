"""Settings for the test suite: the real settings, never a developer's .env, a throwaway secret."""

import os

# Tests must see what CI sees: a local .env (DEBUG=1, a dev database) must not leak in.
os.environ["STRATEGYHUB_DOTENV"] = "off"
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("STRATEGYHUB_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from strategyhub.settings import *  # noqa: F403

# The embedded PostgreSQL of the tests (var/test/postgres/, DATABASE_URL unset) is thrown away at will: no fsync.
EMBEDDED_POSTGRES_DURABLE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
# The suite's single-person operator: alice's live orders use the settings' (simulator dev) credentials
# unless she stores a venue account; every other user needs their own (tests/trading/test_venue_accounts_live.py).
OPERATOR_ACCOUNT_USERNAME = "alice"
# The tests' webhook receivers listen on 127.0.0.1; tests/api/test_webhooks.py turns this off to see it refused.
WEBHOOK_ALLOW_PRIVATE_URLS = True

# Tests that count session starts start them one after another, on the cycle that asks (so its second cycle is
# warm): no gap between starts, no start beside a cold cycle and none held off for a worker's first seconds
# (their own tests are in tests/runtime/test_warm.py).
SANDBOX_WARM = {**SANDBOX_WARM, "start_gap_seconds": 0.0, "start_in_background": False,  # noqa: F405
                "first_start_after_seconds": 0.0}
