"""How Segment messages become records of the project's sources (``weir.yml`` ``collector: segment:``).

Trackers built on Segment's SDKs (analytics.js, analytics-python, the mobile
SDKs) post to ``/v1/batch``, ``/v1/track``, ``/v1/page``, ``/v1/identify``.
Each message type goes to a source, and each field of the source is read
from the message by a *path*:

- ``messageId``, ``properties.path``, ``context.page.path``: a dotted path
  into the message;
- ``properties.path | context.page.path``: the first of these that is present;
- ``=View``: the literal text after ``=``.

A path that finds nothing leaves the field null, and the source's contract
decides (a required field that is null is quarantined). An ISO-8601 text read
into an ``epoch`` field becomes seconds since 1970. Example::

    collector:
      segment:
        track_events:
          Feedback Submitted:
            source: crm_interactions
            fields: {event_id: messageId, customer_id: userId, interaction_type: =Feedback,
                     rating: properties.rating, timestamp: timestamp}

A message of a type with no target (``alias``, ``group`` …) or that is not
an object is not dropped: it goes whole to ``unmapped_source``, whose contract
quarantines it (unknown fields), with the message kept for replay.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from weir.project.base import FieldProblem, Name, Strict

_PATH = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z0-9_$]+)*$")
EVENT_TIME = "timestamp | originalTimestamp | sentAt | receivedAt"


class SegmentTarget(Strict):
    """A source and, for each of its fields, where in the Segment message it is read from."""

    source: Name
    fields: dict[Name, str] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _paths_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for name, spec in value.items():
            for path in (part.strip() for part in spec.split("|")):
                if not path.startswith("=") and not _PATH.match(path):
                    raise FieldProblem(
                        "fields",
                        f"{name}: '{path}' is neither a dotted path nor a =literal",
                        "write e.g. properties.path | context.page.path, or =View",
                    )
        return value


def _page() -> SegmentTarget:
    return SegmentTarget(
        source="web_traffic",
        fields={
            "event_id": "messageId",
            "session_id": "properties.session_id | context.session_id | anonymousId | userId",
            "user_id": "userId",
            "page": "properties.path | context.page.path",
            "device_type": "properties.device_type | context.device_type",
            "browser": "properties.browser | context.browser",
            "event_type": "properties.event_type | =View",
            "element": "properties.element",
            "timestamp": EVENT_TIME,
        },
    )


def _track() -> SegmentTarget:
    target = _page()
    fields = {**target.fields, "event_type": "properties.event_type | =Click"}
    return SegmentTarget(source="web_traffic", fields=fields)


def _interaction(kind: str, values: str = "properties") -> SegmentTarget:
    return SegmentTarget(
        source="crm_interactions",
        fields={
            "event_id": "messageId",
            "customer_id": f"userId | {values}.customer_id",
            "interaction_type": f"{values}.interaction_type | ={kind}",
            "channel": f"{values}.channel",
            "rating": f"{values}.rating",
            "message_excerpt": f"{values}.message | {values}.message_excerpt",
            "case_id": f"{values}.case_id",
            "case_status": f"{values}.case_status",
            "timestamp": EVENT_TIME,
        },
    )


def _track_events() -> dict[str, SegmentTarget]:
    return {
        "Feedback Submitted": _interaction("Feedback"),
        "Complaint Filed": _interaction("Complaint"),
        "Loyalty Points Redeemed": _interaction("Loyalty"),
    }


class SegmentMapping(Strict):
    """Where each Segment message type goes; ``track_events`` send named track events elsewhere."""

    enabled: bool = Field(default=True, description="serve /v1/batch, /v1/track, /v1/page …")
    page: SegmentTarget = Field(default_factory=_page, description="page (and screen) calls")
    track: SegmentTarget = Field(
        default_factory=_track, description="track calls not named in track_events"
    )
    identify: SegmentTarget = Field(
        default_factory=lambda: _interaction("Loyalty", "traits"),
        description="identify calls (a known customer shows up)",
    )
    track_events: dict[str, SegmentTarget] = Field(
        default_factory=_track_events,
        description="track calls by event name → their own target (e.g. CRM interactions)",
    )
    unmapped_source: Name = Field(
        default="web_traffic",
        description="where a message no target takes goes whole, to be quarantined (never dropped)",
    )

    def targets(self) -> list[SegmentTarget]:
        return [self.page, self.track, self.identify, *self.track_events.values()]

    def sources(self) -> set[str]:
        return {t.source for t in self.targets()} | {self.unmapped_source}
