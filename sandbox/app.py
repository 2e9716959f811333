"""Every sandbox provider in one loopback server, for `make run` and the tests."""

from fastapi import FastAPI
from pydantic import BaseModel, Field

from sandbox import fulfilment, mailchimp, stripe
from sandbox.faults import start_outage

app = FastAPI(title="Handoff sandbox providers", docs_url=None, redoc_url=None)
app.include_router(mailchimp.router)
app.include_router(fulfilment.router)
app.include_router(stripe.router)


class Outage(BaseModel):
    seconds: float = Field(ge=0, le=3600)


@app.post("/sandbox/outage")
async def schedule_outage(outage: Outage) -> dict[str, float]:
    """Every provider answers 503 for the next `seconds` (0 ends an outage)."""
    start_outage(outage.seconds)
    return {"seconds": outage.seconds}
