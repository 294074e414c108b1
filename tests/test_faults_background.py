"""Background faults on a real `celery worker` and a Redis of this test's own (which it stops and freezes).

Two companies' tasks interleaved on one worker, a task without a company, a worker killed mid-task,
and sends accepted while Redis is down, then sent once each by the outbox.
"""

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import kombu
import psycopg
import pytest
from django.db import connection

from config.celery import app
from core.outbox import requeue_stalled_sends
from crm.models import Deal
from messaging.models import Notification, SmsMessage
from messaging.tasks.sms import send_sms
from tenancy.context import company_context
from workflows import services as workflow_services
from workflows.models import WorkflowExecution

from .conftest import DATABASE_OWNER
from .factories import DealFactory, SmsMessageFactory, TwilioSettingsFactory, WorkflowFactory
from .faults import ThrowawayRedis, stop_process, wait_for
from .keys import server_keys
from .workflows.test_workflow_worker import database_url_of_this_test

pytestmark = [
    pytest.mark.faults,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = "/api/sms/messages"
SETTLE_SECONDS = 30
FROZEN_LIMIT_SECONDS = 20
UNSETTLED = (SmsMessage.Status.QUEUED, SmsMessage.Status.SENDING)
# Redelivery of a dead worker's task within seconds, not the production hour.
QUICK_REDELIVERY = {"CELERY_BROKER_VISIBILITY_TIMEOUT": "3", "CELERY_BROKER_RESTORE_INTERVAL": "1"}


def _reset_broker_connections() -> None:
    app.pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps producer pools per connection globally; a closed one must not serve the next test.
    kombu.pools.reset()


@pytest.fixture
def broker():
    """This test's own Redis; this process (the web side) queues tasks to it."""
    server = ThrowawayRedis()
    server.start()
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    _reset_broker_connections()
    app.conf.update(broker_url=server.url, task_always_eager=False)
    try:
        yield server
    finally:
        app.conf.update(saved)
        _reset_broker_connections()
        server.stop()


@pytest.fixture
def workers(broker, tmp_path):
    """Starts `celery -A config worker` processes (solo pool by default) on this test's database and Redis."""
    started: list[subprocess.Popen] = []

    def start(*, pool: str = "solo", **env) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"worker-{len(started)}.log"
        environment = {
            **os.environ,
            # The worker decrypts the Twilio tokens this process stored.
            **server_keys(),
            "DATABASE_URL": database_url_of_this_test(),
            "REDIS_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "TWILIO_DRY_RUN": "true",
            **env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
        ]
        command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with log.open("wb") as output:
            # A session of its own, so a test can kill the worker with its pool processes at once.
            process = subprocess.Popen(  # noqa: S603 (a fixed command)
                command,
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process, log

    yield start
    for process in started:
        stop_process(process)


def messages_of(company) -> list[SmsMessage]:
    with company_context(company):
        return list(SmsMessage.objects.order_by("created_at"))


def wait_settled(companies, *, count: int, log: Path) -> None:
    def settled() -> bool:
        rows = [row for company in companies for row in messages_of(company)]
        return len(rows) == count and all(row.status not in UNSETTLED for row in rows)

    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if settled():
            return
        time.sleep(0.2)
    pytest.fail(f"Sends still queued after {SETTLE_SECONDS}s. Worker log:\n{log.read_text()[-5000:]}")


def send(client, contact, body: str):
    started = time.monotonic()
    response = client.post(MESSAGES, {"contact": str(contact.pk), "body": body}, format="json")
    return response, time.monotonic() - started


def test_two_companies_tasks_interleaved_on_one_worker_each_see_only_their_company(
    broker, workers, company_a, company_b, client_a, client_b, number_a, number_b, contact_a, contact_b
):
    """Sends of A and B alternate on one worker; each is sent from its own company's number, once."""
    TwilioSettingsFactory(company=company_a)
    TwilioSettingsFactory(company=company_b)
    rounds = 15
    for n in range(rounds):
        for client, contact in ((client_a, contact_a), (client_b, contact_b)):
            response, _ = send(client, contact, f"Text {n}")
            assert response.status_code == 201, response.content
    _, log = workers()

    wait_settled([company_a, company_b], count=2 * rounds, log=log)
    rows = []
    for company, number, contact in ((company_a, number_a, contact_a), (company_b, number_b, contact_b)):
        own = messages_of(company)
        assert len(own) == rounds
        for row in own:
            # Each task found its row (row-level security shows it only inside its company) and sent it.
            assert (row.status, row.attempts) == (SmsMessage.Status.SENT, 1), (
                row.error_message,
                log.read_text(),
            )
            assert (row.company_id, row.from_number, row.to_number) == (
                company.pk,
                number.number,
                contact.phone,
            )
            assert row.twilio_sid.startswith("SM")
        rows += own
    assert len({row.twilio_sid for row in rows}) == 2 * rounds
    # The worker really alternated between the companies.
    by_send_time = [row.company_id for row in sorted(rows, key=lambda row: row.sent_at)]
    switches = sum(1 for first, second in itertools.pairwise(by_send_time) if first != second)
    assert switches >= rounds, by_send_time
    assert "NoTenantContext" not in log.read_text()


def test_a_task_without_a_company_refuses_to_run_and_writes_nothing(
    broker, workers, company_a, company_b, number_a, contact_a
):
    """No company_id: the worker logs the refusal; another company's id finds no row; nothing is sent."""
    TwilioSettingsFactory(company=company_a)
    target = SmsMessageFactory(phone_number=number_a, contact=contact_a, status=SmsMessage.Status.QUEUED)
    sentinel = SmsMessageFactory(phone_number=number_a, contact=contact_a, status=SmsMessage.Status.QUEUED)
    _, log = workers()

    # Sent by name, as a careless producer could: apply_async would check the signature first.
    no_company = app.send_task(send_sms.name, kwargs={"message_id": str(target.pk)})
    other_company = app.send_task(
        send_sms.name, kwargs={"company_id": str(company_b.pk), "message_id": str(target.pk)}
    )
    # The solo worker runs tasks in order: once this one is done, so are the two above.
    send_sms.apply_async(kwargs={"company_id": str(company_a.pk), "message_id": str(sentinel.pk)})

    wait_for(
        lambda: {row.pk: row.status for row in messages_of(company_a)}[sentinel.pk] == SmsMessage.Status.SENT,
        seconds=SETTLE_SECONDS,
        what="the sentinel send",
    )
    with company_context(company_a):
        target.refresh_from_db()
    assert (target.status, target.attempts, target.twilio_sid) == (SmsMessage.Status.QUEUED, 0, None)
    text = log.read_text()
    refusal = re.search(rf"send_sms\[{no_company.id}\] raised unexpected: NoTenantContext.*", text)
    assert refusal and "needs a company_id keyword argument" in refusal.group(0), text
    assert f"send_sms[{other_company.id}] succeeded" in text  # it ran in company B and found nothing
    assert messages_of(company_b) == []


def owner_connection():
    """A connection to this test's database as its owner (a superuser here), outside Django."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"], user=DATABASE_OWNER[0]
    )


def backends_waiting_on_a_lock(owner) -> list[int]:
    rows = owner.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchall()
    return [pid for (pid,) in rows]


def test_a_worker_killed_mid_task_leaves_the_work_done_once_after_redelivery(
    broker, workers, company_a, user_a, contact_a
):
    """SIGKILL during step 2 of 3: a new worker gets the task again and finishes it; nothing runs twice."""
    deal = DealFactory(account=contact_a.account, contact=contact_a, owner=user_a, amount="1000.00")
    workflow = WorkflowFactory(
        company=company_a,
        user=user_a,
        record_type="deal",
        actions=[
            {"type": "create_notification", "params": {"title": "first"}},
            {"type": "update_field", "params": {"field": "amount", "value": "4200.00"}},
            {"type": "create_notification", "params": {"title": "second"}},
        ],
    )
    # The owner locks the deal, so the worker's step 2 waits inside its transaction until it is killed.
    blocker = owner_connection()
    observer = owner_connection()
    observer.autocommit = True
    try:
        blocker.execute("SELECT 1 FROM deals WHERE id = %s FOR UPDATE", [deal.pk])
        # Prefork: the parent would acknowledge the task as the child starts it, were it not acks_late.
        first, first_log = workers(pool="prefork", **QUICK_REDELIVERY)
        with company_context(company_a):
            execution = workflow_services.run_manually(workflow, user=user_a, record_id=deal.pk)
        (stuck,) = wait_for(
            lambda: backends_waiting_on_a_lock(observer),
            seconds=SETTLE_SECONDS,
            what="step 2 to wait on the lock",
        )
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker dies, as in an out-of-memory kill
        first.wait()
        blocker.rollback()
        # The dead worker's session ends as soon as PostgreSQL notices; its open transaction rolls back.
        wait_for(
            lambda: not observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [stuck]).fetchone(),
            seconds=15,
            what="the killed worker's session to end",
        )
    finally:
        blocker.close()
        observer.close()
    with company_context(company_a):
        assert list(Notification.objects.values_list("title", flat=True)) == ["first"]
        assert WorkflowExecution.objects.get(pk=execution.pk).status == WorkflowExecution.Status.RUNNING

    _, second_log = workers(**QUICK_REDELIVERY)

    def finished():
        with company_context(company_a):
            found = WorkflowExecution.objects.get(pk=execution.pk)
        return found if found.status in WorkflowExecution.FINISHED else None

    execution = wait_for(finished, seconds=SETTLE_SECONDS, what="the redelivered execution to finish")
    assert execution.status == WorkflowExecution.Status.SUCCEEDED, (execution.error, second_log.read_text())
    assert [step["attempts"] for step in execution.steps] == [1, 1, 1]
    with company_context(company_a):
        assert sorted(Notification.objects.values_list("title", flat=True)) == ["first", "second"]
        assert str(Deal.objects.get(pk=deal.pk).amount) == "4200.00"
    (task_id,) = re.findall(r"run_execution\[([0-9a-f-]+)\] received", first_log.read_text())
    assert f"run_execution[{task_id}] received" in second_log.read_text()  # the same task, redelivered


def test_sends_accepted_while_redis_is_down_go_out_once_when_it_is_back(
    broker,
    workers,
    settings,
    company_a,
    company_b,
    client_a,
    client_b,
    number_a,
    number_b,
    contact_a,
    contact_b,
):
    """Redis stopped, then frozen: each send still answers 201 quickly; the outbox sends each exactly once."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    TwilioSettingsFactory(company=company_a)
    TwilioSettingsFactory(company=company_b)
    pairs = ((client_a, contact_a), (client_b, contact_b))
    answers = []
    broker.stop()  # refused connections
    for n in range(5):
        answers += [send(client, contact, f"While Redis is down {n}") for client, contact in pairs]
    broker.start()
    broker.freeze()  # connections accepted, nothing answered
    # Bounds the test should an enqueue wait on the frozen broker: the late answer then fails it.
    thaw_anyway = threading.Timer(FROZEN_LIMIT_SECONDS, broker.thaw)
    thaw_anyway.start()
    answers += [send(client, contact, "While Redis is frozen") for client, contact in pairs]
    thaw_anyway.cancel()
    broker.thaw()

    for response, seconds in answers:
        assert response.status_code == 201, response.content
        assert response.json()["status"] == SmsMessage.Status.QUEUED
        assert seconds < FROZEN_LIMIT_SECONDS / 2, "the request waited on the broker"
    total = len(answers)
    assert sum(len(messages_of(company)) for company in (company_a, company_b)) == total

    # Each stalled send is queued twice (two sweeps), on top of whatever the frozen Redis took in.
    assert requeue_stalled_sends() == total
    assert requeue_stalled_sends() == total
    _, log = workers()

    wait_settled([company_a, company_b], count=total, log=log)
    rows = messages_of(company_a) + messages_of(company_b)
    assert [(row.status, row.attempts) for row in rows] == [(SmsMessage.Status.SENT, 1)] * total
    assert len({row.twilio_sid for row in rows if row.twilio_sid.startswith("SM")}) == total
