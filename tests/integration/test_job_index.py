"""The console's job indexes (handoff/job_index.py + job_page.lua) against a real redis-server.

Index keys are fixed (`handoff:jobs:<state>:<actor>`), so each test gets actors of its own, named uniquely, and
writes its jobs' hashes and index entries itself, as the worker's state writer does (`move_to_state`). Every key
a test made is removed afterwards."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import pytest
import redis.asyncio

from handoff.job_index import STATES, Cursor, JobFilter, JobIndex, JobPage, move_to_state
from handoff.keys import job_index_key, job_key
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

T = TypeVar("T")

#: A moment in the past, in ms, that no real job of the shared stack shares: these tests' jobs never mix with them.
EPOCH_MS = 1_600_000_000_000


@dataclass(frozen=True, slots=True)
class StoredJob:
    id: str
    actor: str
    created_ms: int
    state: str = "failed"
    summary: str = "j***@example.com"


def newest_first(jobs: Sequence[StoredJob]) -> list[str]:
    """The order the console promises: newest first, and within one millisecond by id (descending)."""
    return [job.id for job in sorted(jobs, key=lambda job: (job.created_ms, job.id), reverse=True)]


class Fixture:
    """Actors of one test's own, and the jobs it stores under them."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.prefix = f"test-index-{uuid.uuid4().hex[:8]}"
        self.actors: set[str] = set()
        self.job_ids: set[str] = set()

    def actor(self, name: str = "a") -> str:
        actor = f"{self.prefix}-{name}"
        self.actors.add(actor)
        return actor

    async def store(self, jobs: Sequence[StoredJob]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for job in jobs:
                self.job_ids.add(job.id)
                self.actors.add(job.actor)
                pipe.hset(
                    job_key(job.id),
                    mapping={
                        "state": job.state,
                        "actor": job.actor,
                        "summary": job.summary,
                        "created_at": job.created_ms,
                        "attempt": 1,
                        "max_attempts": 4,
                    },
                )
                move_to_state(pipe, job.id, actor=job.actor, created_ms=job.created_ms, state=job.state)
            await pipe.execute()

    async def clean_up(self) -> None:
        keys = [job_index_key(state, actor) for state in STATES for actor in self.actors]
        keys += [job_key(job_id) for job_id in self.job_ids]
        if keys:
            await self.client.delete(*keys)


def with_index(redis_server: RedisServer, work: Callable[[Fixture], Awaitable[T]]) -> T:
    async def run() -> T:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        fixture = Fixture(client)
        try:
            return await work(fixture)
        finally:
            await fixture.clean_up()
            await client.aclose()

    return asyncio.run(run())


def jobs_of(actor: str, times_ms: Sequence[int], **fields: str) -> list[StoredJob]:
    return [StoredJob(str(uuid.uuid4()), actor, created_ms, **fields) for created_ms in times_ms]


def ids(page: JobPage) -> list[str]:
    return [job.id for job in page.jobs]


async def walk(
    index: JobIndex, job_filter: JobFilter, *, size: int, direction: Literal["older", "newer"] = "older"
) -> list[JobPage]:
    """Every page from one end, following the cursor the previous page offers, as the pager links do."""
    pages = [await index.page(job_filter, size=size, direction=direction)]
    while True:
        cursor = pages[-1].older if direction == "older" else pages[-1].newer
        if cursor is None:
            return pages
        assert len(pages) < 1000, "the walk does not end"
        pages.append(await index.page(job_filter, size=size, cursor=cursor, direction=direction))


def test_a_page_lists_jobs_newest_first_with_their_state(redis_server: RedisServer) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[str], JobPage]:
        # Given five failed jobs, stored in no particular order
        jobs = jobs_of(fixture.actor(), [EPOCH_MS + 30, EPOCH_MS + 10, EPOCH_MS + 50, EPOCH_MS + 20, EPOCH_MS + 40])
        await fixture.store(jobs)
        # When the first page is read
        page = await JobIndex(fixture.client).page(JobFilter(states=("failed",), actors=(fixture.actor(),)), size=10)
        return newest_first(jobs), [job.state.value for job in page.jobs], page

    expected, states, page = with_index(redis_server, work)

    # Then it holds them all, newest first, and there is nothing to page to
    assert ids(page) == expected
    assert states == ["failed"] * 5
    assert (page.total, page.offset) == (5, 0)
    assert (page.older, page.newer) == (None, None)


@pytest.mark.parametrize("where", ["at the newest end", "amid older and newer jobs"])
def test_paging_older_then_back_newer_visits_every_job_once_when_300_share_a_millisecond(
    redis_server: RedisServer, where: str
) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[JobPage], list[JobPage]]:
        # Given 300 jobs created in the same millisecond (an admission burst), with others around them
        actor = fixture.actor()
        burst_ms = EPOCH_MS + 1_000
        newer = [] if where == "at the newest end" else list(range(burst_ms + 1, burst_ms + 41))
        times = [*newer, *[burst_ms] * 300, *range(burst_ms - 40, burst_ms)]
        jobs = jobs_of(actor, times)
        await fixture.store(jobs)
        index = JobIndex(fixture.client)
        job_filter = JobFilter(states=("failed",), actors=(actor,))
        # When an operator follows "Older" to the last page, then "Newer" all the way back
        forward = await walk(index, job_filter, size=47)
        back = [forward[-1]]
        while back[-1].newer is not None:
            assert len(back) < 100, "the walk back does not end"
            back.append(await index.page(job_filter, size=47, cursor=back[-1].newer, direction="newer"))
        return newest_first(jobs), forward, back

    expected, forward, back = with_index(redis_server, work)

    # Then each way shows every job exactly once, in order, with a way back from every page but the first
    assert [job_id for page in forward for job_id in ids(page)] == expected
    assert [job_id for page in reversed(back) for job_id in ids(page)] == expected
    assert all(len(page.jobs) == 47 for page in forward[:-1])
    assert all(page.total == len(expected) for page in forward + back)
    assert [page.newer is not None for page in forward] == [False] + [True] * (len(forward) - 1)
    assert [page.older is not None for page in back] == [False] + [True] * (len(back) - 1)
    # and each page says where it is in the list ("Jobs 48-94 of 380")
    assert [page.offset for page in forward] == list(range(0, len(expected), 47))


def test_jobs_in_several_states_and_of_several_actors_merge_into_one_list(redis_server: RedisServer) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[str], list[str], list[str]]:
        # Given two actors' jobs in three states, interleaved in time, some in the same millisecond
        first, second = fixture.actor("first"), fixture.actor("second")
        rng = random.Random(7)
        jobs = [
            StoredJob(str(uuid.uuid4()), rng.choice([first, second]), EPOCH_MS + rng.randrange(40), state)
            for state in ("failed", "succeeded", "queued")
            for _ in range(25)
        ]
        await fixture.store(jobs)
        index = JobIndex(fixture.client)
        # When the list is filtered to failed and succeeded, of both actors, and paged through
        job_filter = JobFilter(states=("failed", "succeeded"), actors=(first, second))
        pages = await walk(index, job_filter, size=10)
        # and to queued jobs of the first actor alone
        only_first = await index.page(JobFilter(states=("queued",), actors=(first,)), size=100)
        wanted = [job for job in jobs if job.state != "queued"]
        queued_of_first = [job for job in jobs if job.state == "queued" and job.actor == first]
        merged = [job_id for page in pages for job_id in ids(page)]
        return merged, newest_first(wanted), ids(only_first), newest_first(queued_of_first)

    merged, expected, only_first, expected_first = with_index(redis_server, work)

    # Then the list merges them newest first, each once, and leaves out what the filter leaves out
    assert merged == expected
    assert only_first == expected_first


def test_a_text_filter_finds_jobs_by_summary_and_by_id(redis_server: RedisServer) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[str], list[str], list[str]]:
        # Given jobs for two domains
        actor = fixture.actor()
        alpha = jobs_of(actor, range(EPOCH_MS, EPOCH_MS + 30, 3), summary="a***@alpha-domain.example")
        beta = jobs_of(actor, range(EPOCH_MS + 1, EPOCH_MS + 30, 3), summary="b***@beta-domain.example")
        await fixture.store(alpha + beta)
        index = JobIndex(fixture.client)

        def search(text: str) -> JobFilter:
            return JobFilter(states=("failed",), actors=(actor,), text=text)

        # When the list is searched by a piece of the subject, in capitals, and by a piece of one job's id
        by_domain = await index.page(search("@ALPHA-domain"), size=50)
        by_id = await index.page(search(beta[4].id[:13]), size=50)
        return ids(by_domain), newest_first(alpha), ids(by_id), [beta[4].id]

    by_domain, alpha, by_id, wanted = with_index(redis_server, work)

    # Then each search shows exactly the jobs that match
    assert by_domain == alpha
    assert by_id == wanted


def test_a_text_filter_with_a_small_budget_stops_and_resumes_without_skipping_or_repeating(
    redis_server: RedisServer,
) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[str], list[bool], list[str]]:
        # Given 120 jobs, one in four a match, some of them in the same millisecond
        actor = fixture.actor()
        rng = random.Random(11)
        jobs = [
            StoredJob(
                str(uuid.uuid4()),
                actor,
                EPOCH_MS + rng.randrange(60),
                summary="m***@match.example" if n % 4 == 0 else "o***@other.example",
            )
            for n in range(120)
        ]
        await fixture.store(jobs)
        # When the search may look at only 7 jobs a call, and "search older jobs" is followed to the end
        index = JobIndex(fixture.client, search_budget=7)
        pages = await walk(index, JobFilter(states=("failed",), actors=(actor,), text="match.example"), size=5)
        # and then the same search is walked back from its last page
        last = pages[-1]
        back: list[str] = []
        cursor = last.newer
        while cursor is not None:
            page = await index.page(
                JobFilter(states=("failed",), actors=(actor,), text="match.example"),
                size=5,
                cursor=cursor,
                direction="newer",
            )
            back = ids(page) + back
            cursor = page.newer
        found = [job_id for page in pages for job_id in ids(page)]
        matches = newest_first([job for job in jobs if job.summary.startswith("m")])
        return found, matches, [page.search_stopped for page in pages], back + ids(last)

    found, matches, stopped, walked_back = with_index(redis_server, work)

    # Then it stopped on its budget and went on where it stopped: every match once, in order
    assert any(stopped)
    assert found == matches
    assert walked_back == matches


def test_going_back_from_a_search_page_with_no_match_shows_the_match_it_came_from_again(
    redis_server: RedisServer,
) -> None:
    async def work(fixture: Fixture) -> tuple[list[str], list[str], list[str], list[str]]:
        # Given three matches, the newest jobs, then ten jobs that do not match, and a budget of three a call
        actor = fixture.actor()
        jobs = [
            StoredJob(
                str(uuid.uuid4()),
                actor,
                EPOCH_MS + 100 - n,
                summary="m***@match.example" if n < 3 else "o***@other.example",
            )
            for n in range(13)
        ]
        await fixture.store(jobs)
        index = JobIndex(fixture.client, search_budget=3)
        search = JobFilter(states=("failed",), actors=(actor,), text="match.example")
        # When the search stops on the third match, goes on to a page of no match, and the operator goes back
        first = await index.page(search, size=5)
        empty = await index.page(search, size=5, cursor=first.older)
        assert empty.newer is not None
        shown_back: list[str] = []
        page = await index.page(search, size=5, cursor=empty.newer, direction="newer")
        while True:
            shown_back = ids(page) + shown_back
            if page.newer is None:
                break
            page = await index.page(search, size=5, cursor=page.newer, direction="newer")
        return ids(first), ids(empty), shown_back, newest_first(jobs[:3])

    first, empty, shown_back, matches = with_index(redis_server, work)

    assert first == matches
    assert empty == []
    # Then going back shows the three matches again, the one the empty page's cursor was at included
    assert shown_back == matches


def test_count_tells_how_many_match_with_and_without_text(redis_server: RedisServer) -> None:
    async def work(fixture: Fixture) -> tuple[tuple[int, bool], ...]:
        # Given 90 failed jobs, a third of them a match, and 10 succeeded ones
        actor = fixture.actor()
        failed = [
            StoredJob(
                str(uuid.uuid4()),
                actor,
                EPOCH_MS + n,
                summary="c***@counted.example" if n % 3 == 0 else "x***@elsewhere.example",
            )
            for n in range(90)
        ]
        succeeded = jobs_of(actor, range(EPOCH_MS, EPOCH_MS + 10), state="succeeded", summary="c***@counted.example")
        await fixture.store(failed + succeeded)
        small = JobIndex(fixture.client, search_budget=10)
        failed_only = JobFilter(states=("failed",), actors=(actor,))
        matching = JobFilter(states=("failed",), actors=(actor,), text="@counted.")
        # When counting without text, with text over several round trips, and with a cap on what is examined
        return (
            await small.count(failed_only),
            await small.count(matching),
            await small.count(JobFilter(states=("failed", "succeeded"), actors=(actor,), text="@counted.")),
            await small.count(matching, at_most_examined=30),
        )

    without_text, with_text, two_states, capped = with_index(redis_server, work)

    assert without_text == (90, True)
    assert with_text == (30, True)
    assert two_states == (40, True)
    # the 30 newest failed jobs hold 10 matches; the count says it is not all of them
    assert capped == (10, False)


def test_a_malformed_cursor_starts_at_the_newest_end() -> None:
    assert Cursor.parse("") is None
    assert Cursor.parse("12~") is None
    assert Cursor.parse("x~abc") is None
    assert Cursor.parse("123~abc") == Cursor(123, "abc")
    assert str(Cursor(123, "abc")) == "123~abc"
