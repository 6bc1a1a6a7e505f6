"""Every route of the SDK's published contract exists here with the same method."""

from __future__ import annotations

import json
from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "spendguard-sdk-openapi.json"


def test_every_contract_route_is_served(http):
    contract = json.loads(CONTRACT.read_text())
    ours = http.get("/openapi.json").json()["paths"]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in contract["paths"].items()
        for method in operations
        if method not in ours.get(path, {})
    ]
    assert missing == []
