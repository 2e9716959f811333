"""The job indexes: one sorted set per state and actor (`handoff:jobs:<state>:<actor>`, job id -> time of
creation in ms), kept beside each job's hash by whoever changes its state: admission (handoff/admit.lua), the
worker's state writer (tasks/job_state/store.py) and the console's dead-letter actions. They let the console count
jobs per state and page through any mix of states and actors, newest first, without a KEYS or a scan: a page
merges a few indexes from a cursor on (handoff/job_page.lua), at O(log N) per index however many jobs there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import redis.asyncio

from handoff.job_kinds import KINDS
from handoff.jobs import Job, JobState
from handoff.keys import JOB_KEY_PREFIX, job_index_key

STATES: tuple[str, ...] = tuple(state.value for state in JobState)

#: A text filter looks at no more jobs than this per page (one Lua call: about 20 ms of Redis's time, during which
#: it serves nobody else); the page then offers to search further.
SEARCH_BUDGET = 2_000

_PAGE_SCRIPT = (Path(__file__).parent / "job_page.lua").read_text()


def index_keys(states: Iterable[str], actors: Iterable[str]) -> list[str]:
    return [job_index_key(state, actor) for state in states for actor in actors]


def move_to_state(pipe: Any, job_id: str, *, actor: str, created_ms: int, state: str) -> None:
    """Queues on a pipeline (sync or asyncio) the moves that put `job_id` in `state`'s index alone."""
    for other in STATES:
        if other != state:
            pipe.zrem(job_index_key(other, actor), job_id)
    pipe.zadd(job_index_key(state, actor), {job_id: created_ms})


def trim_indexes(pipe: Any, *, older_than_ms: int) -> None:
    """Queues the removal of every job created before `older_than_ms`: the console lists the jobs of the last
    JOB_TTL_S, whose hashes are kept that long at least."""
    for key in index_keys(STATES, sorted(KINDS)):
        pipe.zremrangebyscore(key, "-inf", f"({older_than_ms}")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A place in the newest-first order: a job's creation time (ms) and id. In a URL: `<ms>~<id>`."""

    score: int
    job_id: str

    def __str__(self) -> str:
        return f"{self.score}~{self.job_id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """None for an absent or malformed cursor: the page then starts at the newest end."""
        if not text:
            return None
        score, tilde, job_id = text.partition("~")
        if not tilde or not score.isdigit() or not job_id or len(job_id) > 64:
            return None
        return cls(int(score), job_id)


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What the console's job list shows: any of `states`, any of `actors` (empty: all), and `text` found in a job's
    id or its masked summary."""

    states: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    text: str = ""

    @classmethod
    def of(cls, states: Sequence[str], actors: Sequence[str], text: str) -> JobFilter:
        """Unknown states and actors are dropped, not an error: a stale link still shows something sensible."""
        return cls(
            states=tuple(state for state in STATES if state in states),
            actors=tuple(actor for actor in sorted(KINDS) if actor in actors),
            text=text.strip()[:200],
        )

    def indexes(self) -> list[str]:
        return index_keys(self.states or STATES, self.actors or sorted(KINDS))


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    #: Jobs in the filter's indexes (before the text filter).
    total: int
    #: Jobs before this page, newest first.
    offset: int
    older: Cursor | None
    newer: Cursor | None
    #: The text filter examined its budget before filling the page: `older` resumes the search.
    search_stopped: bool


class JobIndex:
    """Parameters:
    client(redis.asyncio.Redis): Redis, read with decode_responses=True.
    """

    def __init__(self, client: redis.asyncio.Redis, *, search_budget: int = SEARCH_BUDGET) -> None:
        self.client = client
        self.search_budget = search_budget
        self._page = client.register_script(_PAGE_SCRIPT)

    async def page(
        self,
        job_filter: JobFilter,
        *,
        size: int = 50,
        cursor: Cursor | None = None,
        direction: Literal["older", "newer"] = "older",
    ) -> JobPage:
        """One page in one round trip: `older` than the cursor (or from the newest), or the page `newer` than it."""
        reply = await self._page(
            keys=job_filter.indexes(),
            args=[
                size,
                cursor.score if cursor else "",
                cursor.job_id if cursor else "",
                direction,
                job_filter.text.lower(),
                self.search_budget,
                JOB_KEY_PREFIX,
                "page",
            ],
        )
        more, stopped, stop_score, stop_member, total, newer_count = reply[:6]
        rows = reply[6:] if direction == "older" else list(reversed(reply[6:]))
        jobs = [Job.from_hash(job_id, _pairs(fields)) for job_id, _, fields in rows if fields]
        cursors = [Cursor(int(score), job_id) for job_id, score, _ in rows]
        # The last job a text filter examined; past it when it stopped. An empty page's way back starts there, not
        # at its cursor: the job at the cursor (shown on the page before, maybe a match) must be shown again.
        examined_to = Cursor(int(stop_score), stop_member) if stop_member else None
        stop = examined_to if stopped else None
        if direction == "older":
            older = stop or (cursors[-1] if more and cursors else None)
            back = (examined_to or cursor) if cursor and not cursors else None
            newer = cursors[0] if cursors and int(newer_count) else back
        else:
            newer = stop or (cursors[0] if more and cursors else None)
            older = cursors[-1] if cursors else (examined_to or cursor)
        return JobPage(
            jobs=jobs,
            total=int(total),
            offset=int(newer_count),
            older=older,
            newer=newer,
            search_stopped=bool(stopped),
        )

    async def count(self, job_filter: JobFilter, *, at_most_examined: int = 30_000) -> tuple[int, bool]:
        """How many jobs match, and whether that is all of them: without text, the indexes' sizes; with text, the
        matches among at most `at_most_examined` jobs, a search budget per round trip (Redis answers others
        between two)."""
        if not job_filter.text:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in job_filter.indexes():
                    pipe.zcard(key)
                return sum(await pipe.execute()), True
        matches, cursor, examined = 0, None, 0
        while True:
            _, stopped, stop_score, stop_member, _, found = await self._page(
                keys=job_filter.indexes(),
                args=[
                    0,
                    cursor.score if cursor else "",
                    cursor.job_id if cursor else "",
                    "older",
                    job_filter.text.lower(),
                    self.search_budget,
                    JOB_KEY_PREFIX,
                    "count",
                ],
            )
            matches += int(found)
            examined += self.search_budget
            if not stopped:
                return matches, True
            if examined >= at_most_examined:
                return matches, False
            cursor = Cursor(int(stop_score), stop_member)


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
