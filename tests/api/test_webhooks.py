"""Webhooks: endpoints through the API, and signed events POSTed to a real HTTP receiver in this process.

Deliveries run through their Celery task (`webhooks.send`, queued on commit) and the
beat sweep (`webhooks_sweep`), eagerly here: the task runs where `.delay` is called instead of going
through the broker. The receiver checks every signature as docs/api.md tells a receiver to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from strategies.cycle.run import execution_run
from strategies.models import Strategy
from strategies.services import strategies_pause_live, strategy_deploy
from tests.api.conftest import error, kalshi_files
from tests.api.test_actions import buyer_files
from trading.models import Fill
from webhooks.delivery import READ_SECONDS, RETRY_DELAYS, webhook_deliver
from webhooks.models import WebhookDelivery
from webhooks.tasks import webhook_send, webhooks_sweep

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]

FAILING_ENTRY = "def should_enter(ctx):\n    raise RuntimeError('the thesis broke')\n"
EVERY_EVENT = ["execution.failed", "order.filled", "strategy.paused", "version.pending_approval"]


class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST; answers the next of `answers` (then 200), or hangs."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.hang_seconds = 0.0
        self.answer_body = b"ok"
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.monotonic()})
                if receiver.hang_seconds:
                    time.sleep(receiver.hang_seconds)
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", str(len(receiver.answer_body)))
                self.end_headers()
                self.wfile.write(receiver.answer_body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/strategyhub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self) -> list[dict[str, Any]]:
        """Every request's event, after checking its signature as a receiver must (docs/api.md)."""
        events = []
        for request in self.requests:
            header = request["headers"]["StrategyHub-Signature"]
            parts = dict(part.split("=", 1) for part in header.split(","))
            expected = hmac.new(self.secret.encode(), parts["t"].encode() + b"." + request["body"],
                                hashlib.sha256).hexdigest()
            assert hmac.compare_digest(parts["v1"], expected), "bad signature"
            assert abs(time.time() - int(parts["t"])) < 300, "outside the replay window"
            event = json.loads(request["body"])
            assert request["headers"]["StrategyHub-Event"] == event["type"]
            events.append({**event, "delivery": request["headers"]["StrategyHub-Delivery"]})
        return events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def eager() -> Iterator[None]:
    from strategyhub.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the task runs where it is queued instead of going through a broker
    yield
    app.conf.task_always_eager = before


def subscribe(api: Any, receiver: Receiver, events: list[str] = EVERY_EVENT) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": events})
    assert response.status_code == 201, response.content
    receiver.secret = response.json()["secret"]
    return dict(response.json())


def test_each_event_type_arrives_once_signed(api, alice, staff, receiver, eager,
                                             django_capture_on_commit_callbacks) -> None:
    subscribe(api, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        deployed = api.post("/api/v1/strategies/", {"files": kalshi_files(name="Waits for review")})
        assert deployed.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        buyer = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
        assert execution_run(strategy_id=buyer.pk, trigger="manual").status == "succeeded"
    failing_files = kalshi_files(name="Fails")
    failing_files["entry.py"] = FAILING_ENTRY
    with django_capture_on_commit_callbacks(execute=True):
        failing = strategy_deploy(owner=alice, files=failing_files, approve_by=staff).strategy
        failed = execution_run(strategy_id=failing.pk, trigger="manual")
        assert failed.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/strategies/{buyer.pk}/pause/", {"reason": "enough"}).status_code == 200
        assert api.post(f"/api/v1/strategies/{buyer.pk}/pause/", {"reason": "again"}).status_code == 200  # no change

    events = receiver.verified()
    fills = Fill.objects.filter(order__strategy=buyer).count()  # the order may walk more than one level of the book
    assert fills >= 1
    assert Counter(e["type"] for e in events) == {"execution.failed": 1, "order.filled": fills,
                                                  "strategy.paused": 1, "version.pending_approval": 1}
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["version.pending_approval"]["strategy_id"] == deployed.json()["id"]
    assert by_type["version.pending_approval"]["version"] == 1
    assert by_type["execution.failed"]["execution_id"] == str(failed.pk)
    assert "the thesis broke" in by_type["execution.failed"]["error"]
    fill = by_type["order.filled"]  # the last fill of the order
    assert (fill["strategy_id"], fill["book"], fill["action"], fill["fully_filled"]) == (str(buyer.pk), "paper",
                                                                                         "open", True)
    assert sorted(e["data"]["fill"]["id"] for e in events if e["type"] == "order.filled") == sorted(
        str(pk) for pk in Fill.objects.filter(order__strategy=buyer).values_list("pk", flat=True))
    assert by_type["strategy.paused"] == {"strategy_id": str(buyer.pk), "strategy_name": "Buyer", "cause": "user",
                                          "reason": "enough", "mode": "paper"}
    assert len({e["id"] for e in events}) == len({e["delivery"] for e in events}) == len(events)

    for delivery in WebhookDelivery.objects.all():  # a task delivered again posts nothing twice
        webhook_send(delivery.pk)
    webhooks_sweep()
    assert len(receiver.requests) == len(events)
    assert set(WebhookDelivery.objects.values_list("status", "attempts", "last_status_code")) == {
        ("delivered", 1, 200)}


def test_the_kill_switch_pause_says_so(api, alice, staff, receiver, eager, django_capture_on_commit_callbacks) -> None:
    subscribe(api, receiver, ["strategy.paused"])
    live = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
    Strategy.objects.filter(pk=live.pk).update(mode="live")
    with django_capture_on_commit_callbacks(execute=True):
        assert strategies_pause_live("drill") == 1
    [event] = receiver.verified()
    assert (event["data"]["cause"], event["data"]["reason"]) == ("kill_switch", "kill switch: drill")


def test_no_event_for_a_change_rolled_back(api, alice, receiver, eager, django_capture_on_commit_callbacks) -> None:
    from django.db import transaction

    subscribe(api, receiver)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        strategy_deploy(owner=alice, files=kalshi_files(name="Never stored"))
        raise RuntimeError("the deploy's transaction fails after the version was added")
    assert not WebhookDelivery.objects.exists() and receiver.requests == []


def test_a_receiver_answering_500_then_200_gets_the_event_on_retry(api, receiver, eager,
                                                                   django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/webhooks/{hook['id']}/test/").status_code == 202
    [delivery] = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()["results"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 500)
    assert delivery["last_error"].startswith("answered 500")
    row = WebhookDelivery.objects.get(pk=delivery["id"])
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=RETRY_DELAYS[0])

    assert webhooks_sweep() == 0  # not due yet: nothing is sent before its backoff
    assert len(receiver.requests) == 1
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())  # the 10 s have passed
    assert webhooks_sweep() == 1
    [delivery] = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()["results"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 2, 200)
    first, second = receiver.verified()
    assert first["delivery"] == second["delivery"] == delivery["id"] and first["id"] == second["id"]
    assert first["type"] == "ping"


def test_a_receiver_that_keeps_failing_is_retried_with_backoff_then_given_up(api, receiver, eager,
                                                                            django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    receiver.answers = [503] * 20
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/webhooks/{hook['id']}/test/")
    row = WebhookDelivery.objects.get()
    waits = []
    while row.status == "pending":
        assert row.next_attempt_at is not None and row.last_attempt_at is not None
        waits.append(row.next_attempt_at - row.last_attempt_at)
        WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        webhooks_sweep()
        row.refresh_from_db()
    assert waits == [timedelta(seconds=s) for s in RETRY_DELAYS]
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", len(RETRY_DELAYS) + 1, None)
    assert len(receiver.requests) == len(RETRY_DELAYS) + 1
    webhooks_sweep()
    assert len(receiver.requests) == len(RETRY_DELAYS) + 1  # given up: never sent again


def test_a_hanging_receiver_does_not_delay_the_cycle(api, alice, staff, receiver,
                                                     django_capture_on_commit_callbacks) -> None:
    files = kalshi_files(name="Fails")
    files["entry.py"] = FAILING_ENTRY
    failing = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    started = time.monotonic()
    execution_run(strategy_id=failing.pk, trigger="manual")
    normal = time.monotonic() - started

    subscribe(api, receiver, ["execution.failed"])
    receiver.hang_seconds = READ_SECONDS + 3
    with django_capture_on_commit_callbacks():  # the task is queued on commit, not sent here
        started = time.monotonic()
        assert execution_run(strategy_id=failing.pk, trigger="manual").status == "failed"
        with_hook = time.monotonic() - started
    assert with_hook < normal + 1.0 and with_hook < READ_SECONDS, (normal, with_hook)
    delivery = WebhookDelivery.objects.get()
    assert receiver.requests == [] and (delivery.status, delivery.attempts) == ("pending", 0)  # the cycle wrote a row

    started = time.monotonic()
    webhook_deliver(delivery_id=delivery.pk)  # the worker's attempt gives up at the read timeout
    assert time.monotonic() - started < READ_SECONDS + 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "timed out" in delivery.last_error.lower()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.169.254/latest/",
                                 "http://10.1.2.3/", "http://[::1]:8000/", "http://192.168.0.10/hook"])
def test_private_urls_are_refused_without_the_setting(api, settings, url) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.post("/api/v1/webhooks/", {"url": url, "events": ["order.filled"]})
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["type"] == "validation_error" and body["issues"][0]["path"] == "url"
    assert "private, loopback or link-local" in body["message"]
    assert api.get("/api/v1/webhooks/").json() == []


def test_a_url_that_became_private_is_not_posted_to(api, settings, receiver, eager,
                                                    django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # as if its DNS now pointed inside
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/webhooks/{hook['id']}/test/")
    delivery = WebhookDelivery.objects.get()
    assert receiver.requests == [] and delivery.status == "pending"
    assert delivery.last_error.startswith("not sent: url host '127.0.0.1' resolves to 127.0.0.1")


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_posted_to(
        api, settings, receiver, eager, monkeypatch, django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    port = receiver.server.server_address[1]
    assert api.patch(f"/api/v1/webhooks/{hook['id']}/", {"url": f"http://rebind.example:{port}/hooks"}).status_code == 200
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    public = "192.88.99.1"  # a global address (the retired 6to4 relay, RFC 7526) nothing of ours listens on
    answers: list[str] = []
    resolve = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        """The attacker's DNS: a public address first, loopback from then on."""
        if host != "rebind.example":
            return resolve(host, *args, **kwargs)
        answers.append("127.0.0.1" if answers else public)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/webhooks/{hook['id']}/test/")
    assert receiver.requests == [], "the POST went to loopback after the check"
    assert answers == [public]  # resolved once: the address checked is the address connected to
    assert WebhookDelivery.objects.get().status == "pending"


def test_a_receivers_error_body_is_not_kept(api, receiver, eager, django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    receiver.answers, receiver.answer_body = [500], b"Traceback: db password hunter2 at 10.0.0.5"
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/webhooks/{hook['id']}/test/")
    [delivery] = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()["results"]
    assert (delivery["last_status_code"], delivery["last_error"]) == (500, "answered 500")


@pytest.mark.parametrize(("body", "path"), [
    ({"url": "ftp://example.com/x", "events": ["order.filled"]}, "url"),
    ({"url": "not a url", "events": ["order.filled"]}, "url"),
    ({"url": "https://example.com/x", "events": []}, "events"),
    ({"url": "https://example.com/x", "events": ["order.placed"]}, "events.0"),
    ({"url": "https://example.com/x", "events": ["ping"]}, "events.0"),
    ({"events": ["order.filled"]}, "url"),
])
def test_a_bad_field_is_named(api, body, path) -> None:
    response = api.post("/api/v1/webhooks/", body)
    assert response.status_code == 400, response.content
    assert [one["path"] for one in error(response)["issues"]] == [path]


def test_the_secret_is_shown_once_and_the_endpoint_can_be_changed_and_deleted(api, receiver) -> None:
    hook = subscribe(api, receiver, ["order.filled"])
    assert hook["secret"].startswith("whsec_") and hook["enabled"]
    listed = api.get("/api/v1/webhooks/").json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert "secret" not in api.get(f"/api/v1/webhooks/{hook['id']}/").json()
    changed = api.patch(f"/api/v1/webhooks/{hook['id']}/", {"enabled": False, "events": ["order.filled",
                                                                                         "execution.failed"]})
    assert changed.status_code == 200
    assert (changed.json()["enabled"], changed.json()["events"]) == (False, ["execution.failed", "order.filled"])
    bad = api.patch(f"/api/v1/webhooks/{hook['id']}/", {"events": ["nope"]})
    assert bad.status_code == 400 and error(bad)["issues"][0]["path"] == "events.0"
    assert api.delete(f"/api/v1/webhooks/{hook['id']}/").status_code == 204
    assert api.get(f"/api/v1/webhooks/{hook['id']}/").status_code == 404


def test_a_disabled_endpoint_hears_nothing(api, alice, receiver, eager, django_capture_on_commit_callbacks) -> None:
    hook = subscribe(api, receiver)
    api.patch(f"/api/v1/webhooks/{hook['id']}/", {"enabled": False})
    with django_capture_on_commit_callbacks(execute=True):
        strategy_deploy(owner=alice, files=kalshi_files(name="Quiet"))
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_another_users_webhook_is_invisible_and_hears_nothing_of_mine(api, bob, alice, receiver, eager,
                                                                       django_capture_on_commit_callbacks) -> None:
    from webhooks.services import webhook_endpoint_create

    bobs = webhook_endpoint_create(user=bob, url=receiver.url, events=EVERY_EVENT)
    assert api.get("/api/v1/webhooks/").json() == []
    assert api.get(f"/api/v1/webhooks/{bobs.pk}/deliveries/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        strategy_deploy(owner=alice, files=kalshi_files(name="Alice's"))
    assert receiver.requests == []


def test_a_webhook_attempt_goes_to_the_slow_lane_so_it_never_takes_a_cycles_worker() -> None:
    from django.conf import settings

    from strategyhub.celery import app

    route = app.amqp.router.route({}, "webhooks.send", args=(1,), kwargs={})
    assert route["queue"].name == settings.CELERY_SLOW_QUEUE
    assert app.amqp.router.route({}, "strategies.execution_cycle", args=(1,), kwargs={})["queue"].name \
        == settings.CELERY_TASK_DEFAULT_QUEUE
