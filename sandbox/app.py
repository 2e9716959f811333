"""Every sandbox provider in one loopback server, for `make run` and the tests."""

from fastapi import FastAPI

from sandbox import fulfilment, mailchimp

app = FastAPI(title="Handoff sandbox providers", docs_url=None, redoc_url=None)
app.include_router(mailchimp.router)
app.include_router(fulfilment.router)
