"""okx-async: an asyncio client for the OKX v5 REST API with a per-user-ID rate limiter."""
