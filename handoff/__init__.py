"""Handoff's shared core: what the web and the worker both need to agree on (settings, Redis keys, the job model,
job kinds, and admission: the one path that writes a job and enqueues it). It imports neither side."""
