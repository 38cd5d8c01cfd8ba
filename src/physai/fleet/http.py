"""HTTP helpers shared by the fleet service's routers: the OpenAPI body of raw uploads and its reader."""

from __future__ import annotations

from fastapi import Request

OCTET = {
    "requestBody": {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "required": True,
    }
}


async def raw_body(request: Request) -> bytes:
    return await request.body()
