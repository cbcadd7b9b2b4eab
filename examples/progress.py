"""Progress: report on a long-running job, then its result or its failure.

`GET /jobs/{job_id}` runs a (simulated) job through four stages and streams a `Progress` event
as each stage starts, then `Result`. A job that fails sends `Failed`: a failure the client should
show is an ordinary typed event, part of the stream's contract. (An exception is for bugs: it
ends the stream with the built-in `typedsse.error` event, and tells the client nothing more.)
Pass `?fail_at=validate` to watch a failure.

The events have explicit, namespaced names (`job.progress`, ...) instead of the ones inferred
from their class names.

The job is written twice: as an async generator, for work that awaits, and as a plain generator
at `/jobs/{job_id}/blocking`, for blocking code (a sync database driver, a CPU-bound library),
which typedsse iterates in a worker thread so the server stays responsive.

    uvicorn examples.progress:app
    curl -N 'http://127.0.0.1:8000/jobs/42?fail_at=validate'
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Literal, TypeAlias

from fastapi import FastAPI, Path, Query
from pydantic import BaseModel, Field

import typedsse.openapi
from typedsse import BaseEvent, sse

logger = logging.getLogger(__name__)

Stage: TypeAlias = Literal["fetch", "parse", "validate", "store"]
STAGES: tuple[Stage, ...] = ("fetch", "parse", "validate", "store")
"""The stages every job goes through, in order."""

STAGE_SECONDS = 0.3
"""How long the simulated work of one stage takes."""


class JobStatus(BaseModel):
    """Where a job stands."""

    percent: int = Field(ge=0, le=100, description="How much of the job is done.")
    stage: Stage = Field(description="The stage running now.")


class JobResult(BaseModel):
    """What a finished job produced."""

    job_id: str
    stages: list[Stage]


class JobFailure(BaseModel):
    """Why a job stopped."""

    job_id: str
    stage: Stage
    reason: str


class Progress(BaseEvent[JobStatus], name="job.progress"):
    """A stage has started."""


class Result(BaseEvent[JobResult], name="job.result"):
    """The job finished; the last event of its stream."""


class Failed(BaseEvent[JobFailure], name="job.failed"):
    """The job failed; the last event of its stream."""


JobEvent: TypeAlias = Progress | Result | Failed
"""Every event a job stream sends: a union can be named once and used by several endpoints."""

JobId = Annotated[str, Path(max_length=64)]
FailAt = Annotated[Stage | None, Query(description="Make this stage fail, to see a failure.")]

app = FastAPI(title="typedsse progress example")
typedsse.openapi.install(app)  # document every event of every stream


@app.get("/jobs/{job_id}")
@sse(ping=15)
async def job(job_id: JobId, fail_at: FailAt = None) -> AsyncIterator[JobEvent]:
    """Run a job whose work awaits, reporting each stage, then its result or failure."""
    try:
        for index, stage in enumerate(STAGES):
            yield Progress(data=_status(index))
            await asyncio.sleep(STAGE_SECONDS)  # the stage's work
            if stage == fail_at:
                yield Failed(data=_failure(job_id, stage))
                return
        yield Result(data=JobResult(job_id=job_id, stages=list(STAGES)))
    finally:
        # Runs however the stream ends: finished, failed, or the client gone (typedsse closes
        # the generator as soon as it notices the disconnect). The id is the client's text:
        # `%r` keeps a line break in it from starting a forged line in the log.
        logger.info("job %r: stream closed", job_id)


@app.get("/jobs/{job_id}/blocking")
@sse(ping=15)
def blocking_job(job_id: JobId, fail_at: FailAt = None) -> Iterator[JobEvent]:
    """Run the same job with blocking calls: typedsse iterates this generator in a worker thread."""
    for index, stage in enumerate(STAGES):
        yield Progress(data=_status(index))
        time.sleep(STAGE_SECONDS)  # blocking work is fine here: the event loop is not waiting on it
        if stage == fail_at:
            yield Failed(data=_failure(job_id, stage))
            return
    yield Result(data=JobResult(job_id=job_id, stages=list(STAGES)))


def _status(index: int) -> JobStatus:
    return JobStatus(percent=100 * index // len(STAGES), stage=STAGES[index])


def _failure(job_id: str, stage: Stage) -> JobFailure:
    return JobFailure(job_id=job_id, stage=stage, reason=f"{stage} failed, as requested with fail_at={stage}")
