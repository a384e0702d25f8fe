"""wrk, the load generator the benchmarks measure HTTP with, and the figures it gives."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.idle import TICKS


@dataclass(frozen=True)
class Figures:
    ops_per_second: float
    p50_ms: float | None  # None for work that is not a request, such as a consumed batch
    p99_ms: float | None
    cpu_ms_per_op: float | None  # None where the work is spread over processes not measured apart
    errors: int


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def wrk(url: str, pid: int, script: str, clients: int, seconds: float) -> Figures:
    """wrk's figures for ``script`` (a Lua request function) against ``url``, with the CPU that the
    server process ``pid`` spent meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        before = cpu_seconds(pid)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", lua.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        spent = cpu_seconds(pid) - before
    finally:
        os.unlink(lua.name)

    def latency(share: str) -> float:
        found = re.search(rf"^\s*{share}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert found, out
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    total = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    assert total, out
    assert rate, out
    return Figures(
        ops_per_second=float(rate.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        cpu_ms_per_op=spent * 1000 / max(int(total.group(1)), 1),
        errors=int(failed.group(1)) if failed else 0,
    )


def reads_script(ids: list[str], token: str | None) -> str:
    headers = f'{{["Authorization"] = "Bearer {token}"}}' if token else "{}"
    return (
        "ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
        "request = function()\n"
        f'  return wrk.format("GET", "/customers/" .. ids[math.random(#ids)], {headers})\n'
        "end\n"
    )
