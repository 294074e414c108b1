"""An execution on a real Celery worker: the task crosses Redis and runs in another process."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import kombu
import pytest
import redis
from django.db import connection

from config.celery import app
from crm.models import Deal
from messaging.models import Notification
from tenancy.context import company_context
from workflows.models import WorkflowExecution

from ..factories import ContactFactory, DealFactory, WorkflowFactory
from ..keys import server_keys
from ..webhook_receiver import start_receiver

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WAIT_SECONDS = 30
CONF_KEYS = ("broker_url", "task_always_eager", "task_default_queue")


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url():
    if not redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable; CI runs the Celery worker test against it.")
        pytest.skip(f"Redis at {REDIS_URL} (TEST_REDIS_URL) is not reachable: start Redis to run this test.")
    return REDIS_URL


def database_url_of_this_test() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _reset_broker_connections() -> None:
    app.pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps producer pools per connection globally; a closed one must not serve the next test.
    kombu.pools.reset()


@pytest.fixture
def celery_worker(redis_url, transactional_db, tmp_path):
    """A `celery -A config worker` on its own queue, on this test's database; this process sends to it."""
    queue = f"test-workflows-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        # The worker decrypts the workflow secrets this process stored.
        **server_keys(),
        "DATABASE_URL": database_url_of_this_test(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WORKFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1"]
    command += ["-Q", queue, "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as output:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 (a fixed command)
    saved = {key: app.conf[key] for key in CONF_KEYS}
    _reset_broker_connections()
    app.conf.update(broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
    try:
        yield log
    finally:
        app.conf.update(saved)
        _reset_broker_connections()
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        redis.Redis.from_url(redis_url).delete(queue)


def wait_until_finished(execution_id, company, log: Path) -> WorkflowExecution:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with company_context(company):
            execution = WorkflowExecution.objects.get(pk=execution_id)
        if execution.status in WorkflowExecution.FINISHED:
            return execution
        time.sleep(0.2)
    pytest.fail(
        f"The execution is still {execution.status} after {WAIT_SECONDS}s. Worker log:\n{log.read_text()}"
    )


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_deal_update_runs_its_workflow_on_a_real_worker(
    celery_worker, client_a, company_a, user_a, settings
):
    """Moving a deal to won queues the execution through Redis; the worker runs every step in company A."""
    settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE = True
    receiver, server = start_receiver()
    contact = ContactFactory(company=company_a, owner=user_a)
    deal = DealFactory(
        account=contact.account, contact=contact, owner=user_a, name="Initech", stage="proposal"
    )
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        trigger="record_updated",
        record_type="deal",
        conditions=[{"field": "stage", "op": "changed_to", "value": "won"}],
        actions=[
            {"type": "update_field", "params": {"field": "amount", "value": "4200.00"}},
            {"type": "webhook", "params": {"url": receiver.url, "payload": {"deal": "{{ deal.name }}"}}},
            {"type": "create_notification", "params": {"title": "{{ deal.name }} was won"}},
        ],
    )
    try:
        response = client_a.patch(f"/api/deals/{deal.pk}", {"stage": "won"}, format="json")
        assert response.status_code == 200, response.content
        with company_context(company_a):
            execution = WorkflowExecution.objects.get(workflow=workflow)

        execution = wait_until_finished(execution.pk, company_a, celery_worker)
    finally:
        server.shutdown()
        server.server_close()

    assert execution.status == "succeeded", (execution.error, celery_worker.read_text())
    assert [step["status"] for step in execution.steps] == ["succeeded"] * 3
    with company_context(company_a):
        assert str(Deal.objects.get(pk=deal.pk).amount) == "4200.00"
        assert list(Notification.objects.values_list("title", flat=True)) == ["Initech was won"]
    (request,) = receiver.requests
    expected = "sha256=" + hmac.new(workflow.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-crm-signature"] == expected
    assert json.loads(request.body)["data"] == {"deal": "Initech"}
