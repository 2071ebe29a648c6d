"""Alerts end to end against real channels: an HTTP receiver, an SMTP server, the log file.

Time comes from the calls (``evaluate(now)``, ``deliver_pending(now)``), never from
sleeping: every step below names its moment relative to T0.
"""

from __future__ import annotations

import json
import textwrap
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alert_servers import http_receiver, smtp_server

import weir
from weir.alerts import AlertService, Condition
from weir.errors import ProjectError
from weir.metadata.audit import AuditEntry

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def with_alerts(root: Path, alerts_yaml: str) -> Path:
    """The example project's weir.yml with its alerts: section replaced by ``alerts_yaml``."""
    config = root / "weir.yml"
    text = config.read_text(encoding="utf-8").split("\n# Alerts:")[0]
    config.write_text(text + "\n" + textwrap.dedent(alerts_yaml), encoding="utf-8")
    return root


def failed(subject: str = "nightly", firing: bool = True) -> Condition:
    message = f"the run {subject} failed: model marts.sales_daily" if firing else "it ran"
    return Condition("run_failed", subject, firing, message, detail={"schedule": subject})


def log_lines(root: Path) -> list[dict[str, object]]:
    path = root / ".weir" / "alerts.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


LOG_RULES = """
    alerts:
      channels:
        ops_log: {kind: log}
      rules:
        - {name: run_failures, kind: run_failed, channels: [ops_log], renotify: 4h}
        - {name: nightly_only, kind: run_failed, schedules: [nightly], channels: [ops_log], renotify: null}
"""


def test_firing_renotify_resolved_once_each(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    with weir.Project(root) as project:
        alerts = project.alerts
        first = alerts.evaluate(T0, [failed(), failed("hourly")])
        # run_failures: nightly and hourly open; nightly_only: nightly only (its filter)
        assert len(first.opened) == 3 and first.queued == 3 and first.firing == 3
        assert [o.ok for o in alerts.deliver_pending(T0)] == [True, True, True]
        # one hour on, still firing: nothing is sent again (renotify every 4 h)
        assert alerts.evaluate(T0 + H, [failed(), failed("hourly")]).queued == 0
        # four hours after the first notice: run_failures sends both again, nightly_only never
        again = alerts.evaluate(T0 + 4 * H, [failed(), failed("hourly")])
        assert (len(again.renotified), again.queued) == (2, 2)
        assert alerts.evaluate(T0 + 5 * H, [failed(), failed("hourly")]).queued == 0
        # nightly recovers at +6 h: resolved in both rules, one notice each; hourly still fires
        fixed = alerts.evaluate(T0 + 6 * H, [failed(firing=False), failed("hourly")])
        assert sorted((i.rule, i.subject) for i in fixed.resolved) == [
            ("nightly_only", "nightly"),
            ("run_failures", "nightly"),
        ]
        assert (fixed.queued, fixed.firing) == (2, 1)
        assert alerts.evaluate(T0 + 7 * H, [failed(firing=False)]).queued == 0
        # it fails again at +8 h: a new incident (and hourly's 4 h are up again)
        relapse = alerts.evaluate(T0 + 8 * H, [failed(), failed("hourly")])
        assert (len(relapse.opened), len(relapse.renotified), relapse.queued) == (2, 1, 3)
        alerts.deliver_pending(T0 + 8 * H)

        events = [(line["rule"], line["subject"], line["event"]) for line in log_lines(root)]
        nightly = [e for r, s, e in events if (r, s) == ("run_failures", "nightly")]
        assert nightly == ["firing", "renotify", "resolved", "firing"]
        assert [e for r, s, e in events if r == "nightly_only"] == ["firing", "resolved", "firing"]
        assert len(events) == 3 + 2 + 2 + 3

        incidents = alerts.incidents("run_failures")
        states = sorted((i.subject, i.state, i.notifications) for i in incidents)
        # hourly: firing + 2 renotify; nightly: firing, renotify, resolved; then a new one
        assert states == [
            ("hourly", "firing", 3),
            ("nightly", "firing", 1),
            ("nightly", "resolved", 3),
        ]
        resolved = next(i for i in incidents if i.state == "resolved")
        assert (resolved.started_at, resolved.resolved_at) == (T0, T0 + 6 * H)
        assert alerts.firing_counts() == {"run_failures": 2, "nightly_only": 1}


def test_silence_holds_notices_until_it_ends(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    with weir.Project(root) as project:
        alerts = project.alerts
        alerts.silence("run_failures", T0 + 2 * H, subject="nightly", now=T0)
        opened = alerts.evaluate(T0 + H, [failed(), failed("hourly")])
        # the incident opens (state is kept), but only hourly and nightly_only are told
        assert (len(opened.opened), opened.queued) == (3, 2)
        assert alerts.evaluate(T0 + 90 * timedelta(minutes=1), [failed()]).queued == 0
        # the silence is over at +2 h: the still-firing incident is announced now, once
        after = alerts.evaluate(T0 + 2 * H, [failed()])
        assert after.queued == 1 and after.renotified[0].subject == "nightly"
        # a whole-rule silence: nothing of the rule is sent, resolution included
        alerts.silence("run_failures", T0 + 10 * H, now=T0 + 2 * H)
        quiet = alerts.evaluate(T0 + 3 * H, [failed(firing=False), failed("hourly", False)])
        assert len(quiet.resolved) == 3 and quiet.queued == 1  # nightly_only's resolution
        rows = {r["rule"]: r for r in alerts.status(T0 + 3 * H)}
        assert rows["run_failures"]["silenced_until"] == (T0 + 10 * H).isoformat()
        assert rows["run_failures"]["state"] == "ok"
        with pytest.raises(weir.WeirError, match="not in the future"):
            alerts.silence("run_failures", T0, now=T0 + H)
        with pytest.raises(weir.WeirError, match="did you mean 'run_failures'"):
            alerts.silence("run_failure", T0 + 20 * H)


def test_webhook_down_then_up_is_retried_with_backoff_across_a_restart(
    project_root: Path,
) -> None:
    with http_receiver([500, 503]) as hook:
        root = with_alerts(
            project_root,
            f"""
            alerts:
              channels:
                chat: {{kind: webhook, url: "{hook.url}", format: slack, headers: {{X-Team: data}}}}
              retry: {{first: 30s, longest: 1h}}
              rules:
                - {{name: run_failures, kind: run_failed, channels: [chat]}}
            """,
        )
        with weir.Project(root) as project:
            project.alerts.evaluate(T0, [failed()])
            [down] = project.alerts.deliver_pending(T0)
            assert not down.ok and "answered HTTP 500" in str(down.error)
            assert down.next_attempt_at == T0 + timedelta(seconds=30)
            assert project.alerts.deliver_pending(T0 + timedelta(seconds=29)) == []
            [again] = project.alerts.deliver_pending(T0 + timedelta(seconds=30))
            # backoff doubles: 30 s, then 60 s
            assert "HTTP 503" in str(again.error)
            assert again.next_attempt_at == T0 + timedelta(seconds=90)
        # a new process over the same database resumes the pending delivery
        with weir.Project(root) as reopened:
            [up] = reopened.alerts.deliver_pending(T0 + timedelta(seconds=90))
            assert up.ok
            assert reopened.alerts.deliver_pending(T0 + 2 * H) == []
            [delivery] = reopened.alerts.history("run_failures")
        assert (delivery.status, delivery.attempts) == ("sent", 3)
        assert [(a.outcome, a.next_attempt_at) for a in delivery.tries] == [
            ("failed", T0 + timedelta(seconds=30)),
            ("failed", T0 + timedelta(seconds=90)),
            ("sent", None),
        ]
        assert len(hook.bodies) == 3 and list(hook.bodies[-1]) == ["text"]
        assert "[weir retail] FIRING run_failures: nightly" in hook.bodies[-1]["text"]
        assert hook.headers[-1]["X-Team"] == "data"


def test_webhook_json_body_and_a_receiver_that_is_not_there(project_root: Path) -> None:
    with http_receiver() as hook:
        root = with_alerts(
            project_root,
            f"""
            alerts:
              channels:
                json_hook: {{kind: webhook, url: "{hook.url}"}}
                nowhere: {{kind: webhook, url: "http://127.0.0.1:9/hook", timeout_seconds: 2}}
              rules:
                - {{name: run_failures, kind: run_failed, channels: [json_hook, nowhere]}}
            """,
        )
        with weir.Project(root) as project:
            project.alerts.evaluate(T0, [failed()])
            outcomes = {o.channel: o for o in project.alerts.deliver_pending(T0)}
            assert outcomes["json_hook"].ok
            assert not outcomes["nowhere"].ok and "ConnectError" in str(outcomes["nowhere"].error)
            tests = {o.channel: o.ok for o in project.alerts.test("run_failures")}
            assert tests == {"json_hook": True, "nowhere": False}
            # a test is not retried; the incident's notice to nowhere still is
            pending = [d for d in project.alerts.history() if d.status == "pending"]
            assert [(d.channel, d.event) for d in pending] == [("nowhere", "firing")]
    body = hook.bodies[0]
    assert {k: body[k] for k in ("rule", "subject", "event", "state", "severity", "kind")} == {
        "rule": "run_failures",
        "subject": "nightly",
        "event": "firing",
        "state": "firing",
        "severity": "error",
        "kind": "run_failed",
    }
    assert body["detail"] == {"schedule": "nightly"} and body["started_at"] == T0.isoformat()
    assert hook.bodies[1]["event"] == "test"


def test_email_over_starttls_with_login_from_the_environment(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEIR_TEST_SMTP_USER", raising=False)
    monkeypatch.delenv("WEIR_TEST_SMTP_PASSWORD", raising=False)
    with smtp_server(tmp_path, "alerts", "s3cret") as box:
        root = with_alerts(
            project_root,
            f"""
            alerts:
              channels:
                ops_mail:
                  kind: email
                  smtp: {{host: localhost, port: {box.port}, starttls: true, ca_file: {box.cert},
                         username_env: WEIR_TEST_SMTP_USER, password_env: WEIR_TEST_SMTP_PASSWORD}}
                  from: weir@shop.example
                  to: [ops@shop.example, lead@shop.example]
              rules:
                - {{name: run_failures, kind: run_failed, channels: [ops_mail], severity: critical}}
            """,
        )
        with weir.Project(root) as project:
            project.alerts.evaluate(T0, [failed()])
            # the variables are named in weir.yml but not set: a clear error, still pending
            [unset] = project.alerts.deliver_pending(T0)
            assert not unset.ok
            assert "WEIR_TEST_SMTP_USER, WEIR_TEST_SMTP_PASSWORD is not set" in str(unset.error)
            monkeypatch.setenv("WEIR_TEST_SMTP_USER", "alerts")
            monkeypatch.setenv("WEIR_TEST_SMTP_PASSWORD", "wrong")
            [refused] = project.alerts.deliver_pending(T0 + H)
            assert "login was refused (535)" in str(refused.error)
            assert "wrong" not in str(refused.error)
            monkeypatch.setenv("WEIR_TEST_SMTP_PASSWORD", "s3cret")
            [sent] = project.alerts.deliver_pending(T0 + 2 * H)
            assert sent.ok, sent.error
    [mail] = box.messages
    assert mail["Subject"] == "[weir retail] FIRING run_failures: nightly"
    assert mail["To"] == "ops@shop.example, lead@shop.example"
    assert "severity critical" in mail.get_payload()
    assert box.logins == ["alerts"]


def test_audit_failed_fires_after_a_record_is_edited(project_root: Path) -> None:
    root = with_alerts(
        project_root,
        """
        alerts:
          channels: {log: {kind: log}}
          rules: [{name: audit_chain, kind: audit_failed, channels: [log]}]
        """,
    )
    with weir.Project(root) as project:
        for n in range(3):
            project.audit.append(AuditEntry(kind="query", action=f"SELECT {n}", user="ana"))
        assert project.alerts.evaluate(T0).opened == ()
        with project.store.begin() as db:
            db.execute(sa.text("UPDATE weir_audit SET action = 'SELECT 9' WHERE seq = 2"))
        [incident] = project.alerts.evaluate(T0 + H).opened
        assert (incident.subject, incident.severity) == ("audit log", "critical")
        assert "record 2 was altered" in incident.message
        project.alerts.deliver_pending(T0 + H)
    [line] = log_lines(root)
    assert line["event"] == "firing" and line["detail"]["bad_seq"] == 2


def test_providers_are_asked_at_each_evaluation(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    asked: list[datetime] = []

    def freshness_and_runs(now: datetime) -> list[Condition]:
        asked.append(now)
        return [failed("weekly")]

    with weir.Project(root) as project:
        project.alerts.add_provider(freshness_and_runs)
        service = AlertService(project.alerts, every=60, clock=lambda: T0 + H)
        service.run_once()
        assert asked == [T0 + H] and service.rounds == 1
        [incident] = project.alerts.incidents(state="firing")
        assert (incident.rule, incident.subject, incident.notified_at) == (
            "run_failures",
            "weekly",
            T0 + H,
        )
        assert [d.status for d in project.alerts.history()] == ["sent"]


@pytest.mark.parametrize(
    ("alerts_yaml", "line", "message", "fix"),
    [
        (
            "alerts:\n  channels:\n    ops: {kind: log}\n  rules:\n"
            "    - name: r1\n      kind: stockout\n      channels: [opz]\n",
            7,
            "alerts.rules[0].channels: no channel named 'opz' (did you mean 'ops'?)",
            "",
        ),
        (
            "alerts:\n  channels:\n    ops: {kind: log}\n  rules:\n"
            "    - name: low\n      kind: kpi_threshold\n      kpi: feedback_scor\n"
            "      below: 80\n      channels: [ops]\n",
            7,
            "alerts.rules[0].kpi: no KPI named 'feedback_scor'",
            "did you mean 'feedback_score'?",
        ),
        (
            "alerts:\n  channels:\n    mail:\n      kind: email\n      smtp:\n"
            "        host: smtp.example.com\n        port: 70000\n"
            "      from: a@b.example\n      to: [c@d.example]\n",
            7,
            "alerts.channels.mail.smtp.port: Input should be less than or equal to 65535",
            "",
        ),
        (
            "alerts:\n  channels:\n    mail:\n      kind: email\n      smtp:\n"
            "        host: smtp.example.com\n        username_env: SMTP_USER\n"
            "      from: a@b.example\n      to: [c@d.example]\n",
            7,
            "smtp.username_env: a login needs both username_env and password_env",
            "name both environment variables",
        ),
        (
            "alerts:\n  channels:\n    mail:\n      kind: email\n      smtp:\n"
            "        host: smtp.example.com\n        password_env: hunter2 is my password\n"
            "        username_env: U\n      from: a@b.example\n      to: [c@d.example]\n",
            7,
            "smtp.password_env: not an environment variable name",
            "",
        ),
        (
            "alerts:\n  channels:\n    ops: {kind: log}\n  rules:\n"
            "    - {name: r1, kind: stockout, channels: [ops], kpi: sessions}\n",
            5,
            "kpi is for kpi_threshold rules, not stockout",
            "",
        ),
    ],
)
def test_config_errors_name_file_line_and_fix(
    project_root: Path, alerts_yaml: str, line: int, message: str, fix: str
) -> None:
    config = project_root / "weir.yml"
    config.write_text("name: shop\n" + alerts_yaml, encoding="utf-8")
    with pytest.raises(ProjectError) as caught, weir.Project(project_root) as project:
        project.alerts.rules()  # the KPI names are checked when the alerts are first used
    assert caught.value.what.startswith(f"weir.yml:{line + 1}: "), caught.value.what
    assert message in caught.value.what
    assert fix in (caught.value.fix or "")
    assert "hunter2" not in str(caught.value)  # what may be a secret is never repeated


def test_a_delivery_is_sent_by_one_process_only(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    with weir.Project(root) as one, weir.Project(root) as other:
        one.alerts.evaluate(T0, [failed("hourly")])
        [due] = other.alerts.store.due(T0)
        assert other.alerts.store.claim(due, T0 + timedelta(minutes=5))  # the other is sending it
        assert not one.alerts.store.claim(due, T0 + timedelta(minutes=5))
        assert one.alerts.deliver_pending(T0) == []
        # the other died while sending: five minutes on, the claim has lapsed and it is sent
        [sent] = one.alerts.deliver_pending(T0 + timedelta(minutes=5))
        assert sent.ok and [line["subject"] for line in log_lines(root)] == ["hourly"]


def test_the_server_service_runs_rounds_until_stopped(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    with weir.Project(root) as project:
        project.alerts.add_provider(lambda now: [failed("nightly")])
        service = AlertService(project.alerts, every=3600, clock=lambda: T0, first_after=0)
        service.start()
        try:
            for _ in range(200):  # the first round runs as it starts; wait for it, at most 10 s
                if service.rounds:
                    break
                threading.Event().wait(0.05)
        finally:
            service.stop()
        assert service.rounds == 1  # the next round is an hour away
        lines = log_lines(root)
        assert sorted((line["rule"], line["event"]) for line in lines) == [
            ("nightly_only", "firing"),
            ("run_failures", "firing"),
        ]


def test_one_open_incident_per_rule_and_subject(project_root: Path) -> None:
    root = with_alerts(project_root, LOG_RULES)
    with weir.Project(root) as project:
        [incident] = project.alerts.evaluate(T0, [failed()]).opened[:1]
        twin = replace(incident, incident_id="twin")  # another process's, a moment later
        assert project.alerts.store.open(twin, []) is False
        resolved = replace(incident, incident_id="old", state="resolved", resolved_at=T0)
        assert project.alerts.store.open(resolved, []) is True  # closed ones may repeat
        assert len(project.alerts.incidents("run_failures")) == 2
