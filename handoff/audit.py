"""The audit log: who did what to which job, and when. Written in the same atomic step as the action itself
(handoff/admit.lua, handoff/delete_dead_letter.lua), so no action goes unrecorded and no record tells of an action
that did not happen. Kept twice, both capped: on the job (`handoff:job-audit:<id>`) and for the whole deployment
(`handoff:audit`, the console's overview)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from handoff.jobs import now_ms

#: Newest entries the deployment's log keeps.
AUDIT_LOG_SIZE = 1000
#: Newest entries one job keeps.
JOB_AUDIT_SIZE = 50

Action = Literal["retry", "delete", "bulk-retry", "replay"]

_WORDS = {
    "retry": "sent it back to the queue",
    "delete": "deleted its dead letter",
    "bulk-retry": "started a bulk retry",
    "replay": "replayed its event",
}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    who: str
    action: Action
    job_id: str
    at_ms: int
    #: A few words more: "as part of bulk retry <job id>", how many a bulk retry chose.
    detail: str = ""

    @classmethod
    def now(cls, who: str, action: Action, job_id: str, detail: str = "") -> AuditEntry:
        return cls(who, action, job_id, now_ms(), detail)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AuditEntry | None:
        """None for an entry that is not one (the log outlives code changes)."""
        try:
            data = json.loads(text)
            return cls(str(data["who"]), data["action"], str(data["job_id"]), int(data["at_ms"]), str(data["detail"]))
        except (ValueError, TypeError, KeyError):
            return None

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, tz=UTC)

    @property
    def words(self) -> str:
        return _WORDS.get(self.action, self.action)
