"""The ``alerts:`` section of ``weir.yml``: where alerts go (channels) and when (rules).

Channels are named: a webhook (Slack-compatible or plain JSON), an e-mail over
SMTP (secrets read from environment variables named here, never written
here), or the server log. A rule names the channels it notifies, how often a
still-firing incident is sent again (``renotify``) and its kind's
parameters. A rule routed to a channel that does not exist fails at load,
with the file and the line of the rule.
"""

from __future__ import annotations

import contextvars
import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import ModelWrapValidatorHandler

from weir.project.base import FieldProblem, Name, Strict
from weir.project.durations import Duration, parse_duration

RuleKind = Literal[
    "run_failed",
    "freshness",
    "volume",
    "schema_drift",
    "kpi_anomaly",
    "kpi_threshold",
    "stockout",
    "audit_failed",
    "stream_failed",
    "pii_found",
]
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
Severity = Literal["info", "warning", "error", "critical"]
KpiGrain = Literal["day", "week", "month"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# the channel names of the alerts: section being validated, for the rules to check against
_CHANNELS: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "weir_alert_channels", default=None
)
# which filter each kind takes (the others are refused for it)
FILTERS: dict[str, str] = {
    "run_failed": "schedules",
    "freshness": "sources",
    "volume": "sources",
    "schema_drift": "sources",
    "kpi_anomaly": "kpis",
    "stockout": "warehouses",
    "stream_failed": "sources",
}


def _address(value: str) -> str:
    _name, address = parseaddr(value)
    if "@" not in address or " " in address:
        raise ValueError(f"'{value}' is not an e-mail address")
    return value


class WebhookChannel(Strict):
    """An HTTP POST to a URL: ``{"text": …}`` for Slack (and alike), or the incident as JSON."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="where to POST (http:// or https://)")
    format: Literal["slack", "json"] = "json"
    headers: dict[str, str] = Field(default={}, description="extra request headers")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class SmtpSettings(Strict):
    """How to reach the mail server; the user name and password come from the environment."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS")
    username_env: str | None = Field(default=None, description="environment variable: user")
    password_env: str | None = Field(default=None, description="environment variable: password")
    ca_file: str | None = Field(
        default=None,
        description="a PEM file of certificates to trust (relative to the project), "
        "for a server with a private certificate authority",
    )
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # the value is not repeated: it may be the secret itself
            raise ValueError(
                "not an environment variable name: name the variable that holds the "
                "secret (e.g. WEIR_SMTP_PASSWORD), not the secret itself"
            )
        return value

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpSettings:
        if (self.username_env is None) != (self.password_env is None):
            given = "username_env" if self.password_env is None else "password_env"
            raise FieldProblem(
                given,
                "a login needs both username_env and password_env",
                "name both environment variables, or neither to send without logging in",
            )
        if self.username_env is not None and not self.starttls and self.host not in _LOCAL:
            raise FieldProblem(
                "starttls",
                "a password would cross the network in clear (starttls: false)",
                "set starttls: true, or send without a login",
            )
        return self


_LOCAL = ("localhost", "127.0.0.1", "::1")


class EmailChannel(Strict):
    """An e-mail to a list of addresses."""

    kind: Literal["email"]
    smtp: SmtpSettings
    from_: str = Field(alias="from", description="the sender address")
    to: list[str] = Field(min_length=1, description="the recipients")

    @field_validator("from_")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to_addresses(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]


class LogChannel(Strict):
    """The server log, and one JSON line per alert in ``<state_dir>/alerts.log``."""

    kind: Literal["log"]


_CHANNEL_KINDS: dict[str, type[Strict]] = {
    "webhook": WebhookChannel,
    "email": EmailChannel,
    "log": LogChannel,
}


def _channel_of_kind(value: Any, _handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a channel as the model its ``kind`` names (errors then point at its own fields)."""
    if isinstance(value, WebhookChannel | EmailChannel | LogChannel):
        return value
    kind = value.get("kind") if isinstance(value, dict) else None
    model = _CHANNEL_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"a channel needs kind: one of {', '.join(_CHANNEL_KINDS)}")
    return model.model_validate(value)


ChannelConfig = Annotated[
    WebhookChannel | EmailChannel | LogChannel, WrapValidator(_channel_of_kind)
]


class AlertRuleConfig(Strict):
    """When to raise an incident and whom to tell."""

    name: Name
    kind: RuleKind
    channels: list[Name] = Field(min_length=1, description="the channels to notify, by name")
    renotify: Duration | None = Field(
        default="4h", description="send a still-firing incident again this often (null: never)"
    )
    severity: Severity | None = Field(
        default=None, description="the incidents' severity (default: the check's, mostly error)"
    )
    description: str = ""
    schedules: list[str] | None = Field(default=None, description="run_failed: these only")
    sources: list[str] | None = Field(default=None, description="freshness, volume, schema_drift")
    kpis: list[str] | None = Field(default=None, description="kpi_anomaly: these only")
    warehouses: list[int] | None = Field(default=None, description="stockout: these only")
    kpi: str | None = Field(default=None, description="kpi_threshold: the KPI")
    below: float | None = Field(default=None, description="kpi_threshold: fire under this")
    above: float | None = Field(default=None, description="kpi_threshold: fire over this")
    grain: KpiGrain = Field(default="day", description="kpi_threshold: the period")

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, names: list[str]) -> list[str]:
        known = _CHANNELS.get()
        if known is None:
            return names
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                listed = ", ".join(sorted(known)) or "none"
                raise ValueError(
                    f"no channel named '{name}'{hint}: declare it under alerts.channels "
                    f"(declared: {listed})"
                )
        return names

    @model_validator(mode="after")
    def _parameters_fit_kind(self) -> AlertRuleConfig:
        wanted = FILTERS.get(self.kind)
        for field in ("schedules", "sources", "kpis", "warehouses"):
            if getattr(self, field) is not None and field != wanted:
                takes = f"it takes {wanted}" if wanted else "it takes no filter"
                raise FieldProblem(field, f"a {self.kind} rule has no {field}", takes)
        threshold = ("kpi", "below", "above")
        if self.kind == "kpi_threshold":
            if self.kpi is None:
                raise FieldProblem("kind", "a kpi_threshold rule needs kpi:", "add kpi: NAME")
            if self.below is None and self.above is None:
                raise FieldProblem(
                    "kpi", "a kpi_threshold rule needs below: or above:", "add below: 80"
                )
        else:
            for field in threshold:
                if getattr(self, field) is not None:
                    raise FieldProblem(
                        field, f"{field} is for kpi_threshold rules, not {self.kind}"
                    )
        return self

    @property
    def renotify_every(self) -> timedelta | None:
        return parse_duration(self.renotify) if self.renotify is not None else None

    def filter(self) -> list[str] | None:
        """The names this rule is limited to (subjects), or None for every one."""
        field = FILTERS.get(self.kind)
        values = getattr(self, field) if field is not None else None
        return [str(v) for v in values] if values is not None else None


class RetryConfig(Strict):
    """How a delivery that failed is tried again: exponential backoff, never given up."""

    first: Duration = Field(default="30s", description="wait after the first failure")
    longest: Duration = Field(default="1h", description="the longest wait between two attempts")


class AlertsConfig(Strict):
    """``alerts:``: channels by name, rules, and how often ``weir serve`` evaluates them."""

    channels: dict[Name, ChannelConfig] = Field(default={})
    rules: list[AlertRuleConfig] = Field(default=[])
    evaluate_seconds: int = Field(default=60, ge=1, le=86_400)
    retry: RetryConfig = RetryConfig()

    @model_validator(mode="wrap")
    @classmethod
    def _rules_know_channels(
        cls, data: Any, handler: ModelWrapValidatorHandler[AlertsConfig]
    ) -> AlertsConfig:
        channels = data.get("channels") if isinstance(data, dict) else None
        names = frozenset(channels) if isinstance(channels, dict) else frozenset()
        with _known(names):
            return handler(data)

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, rules: list[AlertRuleConfig]) -> list[AlertRuleConfig]:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rules named twice: {', '.join(dupes)}")
        return rules

    def rule(self, name: str) -> AlertRuleConfig | None:
        return next((r for r in self.rules if r.name == name), None)


@contextmanager
def _known(names: frozenset[str]) -> Iterator[None]:
    token = _CHANNELS.set(names)
    try:
        yield
    finally:
        _CHANNELS.reset(token)


def rule_line(project_file: Path, index: int, field: str) -> int | None:
    """The line of ``alerts.rules[index].field`` in ``weir.yml`` (for errors found after load)."""
    try:
        node: Any = yaml.compose(project_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    for part in ("alerts", "rules", index, field):
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if part < len(node.value) else None
        else:
            found = None
        if found is None:
            break
        node = found
    return int(node.start_mark.line) + 1 if node is not None else None
