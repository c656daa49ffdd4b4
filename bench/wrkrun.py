"""wrk for bench/throughput.py: the generated Lua scripts, one wrk run, and reading its output.

Every script counts responses per HTTP status in each wrk thread and prints one machine-readable line at
the end (``BENCH_RESULT {json}``): wrk's own "Non-2xx or 3xx responses" would count a redirect to the
sign-in page as a success.

Three kinds of script:

* ``get_script``: the same GET over and over, with the session cookie;
* ``save_script``: the app's answer save (PUT …/answers/{item}); see ``save_script`` for how each request
  is a real change that usually succeeds;
* ``peer_script``: the peer's ``PUT /items/{id}``, cycling over its rows.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

STATUSES = ("◎", "○", "△", "×")
RESULT_PREFIX = "BENCH_RESULT "

# Shared by every script: thread numbering, per-status counts, and the summary line printed by done().
_COMMON = r"""
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)   -- becomes the global tid in that thread's Lua state, before init()
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

codes = {}  -- HTTP status -> responses, per thread (global, so that done() can read it with thread:get)

local function count(status)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("codes") or {}) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"codes":{%s}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ",")))
end
"""


def _lua_string(value: str) -> str:
    """A Lua string literal (JSON's escaping is valid Lua for what we put in: ASCII and UTF-8 text)."""
    return json.dumps(value, ensure_ascii=False)


def get_script(cookie: str | None) -> str:
    """The same GET, with the session cookie (None: anonymous)."""
    lines = ['wrk.method = "GET"']
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = {_lua_string(cookie)}')
    lines.append("function response(status, headers, body) count(status) end")
    return _COMMON + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SaveTarget:
    """One answer that the save script may write: its URL, the signed-in person allowed to write it, and
    what it holds now."""

    path: str  # /api/v1/rounds/{round}/sections/{code}/answers/{item}
    code: str  # the 所属 code: written into every memo, so the response says which answer it was
    item_key: str
    version: int
    status: str | None
    cookie: str
    csrf: str


def save_script(targets: list[SaveTarget], threads: int, nonce: str) -> str:
    """The app's save, as the sheet page makes it, over a pool of answers.

    Each wrk thread takes every ``threads``-th answer of the pool and cycles through them, so with a pool
    much larger than the connection count two requests in flight rarely hold the same answer. Every
    request is a real change: the next status in ◎ ○ △ × after the answer's last one, and a memo that is
    unique to the request (``b:<code>:<nonce>-<thread>-<seq>``). The version sent is the one learnt from
    the last response for that answer: a 200 carries the answer (item_key, memo, version); a 409 carries
    what is saved now under "current". Both bodies are read by ``learn`` (the only place that knows the
    JSON shape of an answer).
    """
    sessions: dict[tuple[str, str], int] = {}
    session_rows, pool_rows = [], []
    for t in targets:
        if (t.cookie, t.csrf) not in sessions:
            sessions[(t.cookie, t.csrf)] = len(sessions) + 1
            session_rows.append(f"  {{{_lua_string(t.cookie)}, {_lua_string(t.csrf)}}},")
        index = sessions[(t.cookie, t.csrf)]
        turn = STATUSES.index(t.status) + 1 if t.status in STATUSES else 0
        pool_rows.append(f"  {{{_lua_string(t.path)}, {index}, {_lua_string(t.code)}, "
                         f"{_lua_string(t.item_key)}, {t.version}, {turn}}},")
    statuses = ", ".join(_lua_string(s) for s in STATUSES)
    return _COMMON + f"""
local THREADS = {threads}
local NONCE = {_lua_string(nonce)}
local STATUSES = {{{statuses}}}
local SESSIONS = {{  -- cookie, CSRF token
{chr(10).join(session_rows)}
}}
local POOL = {{  -- path, session, 所属 code, item key, version, index of the current status (0: none)
{chr(10).join(pool_rows)}
}}

local mine, by_answer = {{}}, {{}}
local cursor, seq = 0, 0

function init(args)
  for i, p in ipairs(POOL) do
    if (i - 1) % THREADS == tid then
      local s = SESSIONS[p[2]]
      local a = {{path = p[1], code = p[3], key = p[4], version = p[5], turn = p[6],
                 headers = {{["Cookie"] = s[1], ["X-CSRF-Token"] = s[2], ["Content-Type"] = "application/json"}}}}
      table.insert(mine, a)
      by_answer[a.code .. "|" .. a.key] = a
    end
  end
end

function request()
  cursor = cursor % #mine + 1
  local a = mine[cursor]
  a.turn = a.turn % #STATUSES + 1
  seq = seq + 1
  local body = string.format('{{"status":"%s","memo":"b:%s:%s-%d-%d","version":%d}}',
                             STATUSES[a.turn], a.code, NONCE, tid, seq, a.version)
  return wrk.format("PUT", a.path, a.headers, body)
end

-- The answer in a save's response (200: the body; 409: its "current"): remember its version.
local function learn(status, body)
  if status == 409 then
    local at = body:find('"current"', 1, true)
    if not at then return end
    body = body:sub(at)
  elseif status < 200 or status > 299 then
    return
  end
  local key = body:match('"item_key"%s*:%s*"([^"]+)"')
  local code = body:match('"memo"%s*:%s*"b:([^:"]+):')
  local version = tonumber(body:match('"version"%s*:%s*(%d+)') or "")
  local a = key and code and by_answer[code .. "|" .. key]
  if a and version and version > a.version then
    a.version = version
  end
end

function response(status, headers, body)
  count(status)
  learn(status, body)
end
"""


def peer_script(rows: int, threads: int, nonce: str) -> str:
    """The peer's ``PUT /items/{id}``: each thread cycles over its share of the rows; a new status and a
    unique memo every time."""
    statuses = ", ".join(_lua_string(s) for s in STATUSES)
    return _COMMON + f"""
local THREADS = {threads}
local ROWS = {rows}
local NONCE = {_lua_string(nonce)}
local STATUSES = {{{statuses}}}
local HEADERS = {{["Content-Type"] = "application/json"}}
local seq = 0

function request()
  local id = (seq * THREADS + tid) % ROWS + 1
  seq = seq + 1
  local body = string.format('{{"status":"%s","memo":"p:%s-%d-%d"}}', STATUSES[seq % #STATUSES + 1], NONCE, tid, seq)
  return wrk.format("PUT", "/items/" .. id, HEADERS, body)
end

function response(status, headers, body) count(status) end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    codes: dict[int, int]
    socket_errors: dict[str, int]
    latency_text: dict[str, float] = field(default_factory=dict)  # wrk --latency: percentile → ms
    output: str = ""

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.codes.items() if 200 <= code < 300)

    @property
    def not_ok(self) -> int:
        """Responses outside 2xx, plus requests that got no response (socket errors, timeouts)."""
        return sum(n for code, n in self.codes.items() if not 200 <= code < 300) + sum(
            n for kind, n in self.socket_errors.items() if kind != "status")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LATENCY_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\d+(?:\.\d+)?)(us|ms|s|m)\s*$")


def parse_latency_distribution(output: str) -> dict[str, float]:
    """wrk --latency's "Latency Distribution" lines (``50%  12.34ms``) as {"50": 12.34, …} in ms."""
    found = {}
    for line in output.splitlines():
        match = _LATENCY_LINE.match(line)
        if match:
            found[f"{float(match.group(1)):g}"] = float(match.group(2)) * _UNITS[match.group(3)]
    return found


def run_wrk(url: str, script: str, *, connections: int, threads: int, seconds: float, script_path: Path,
            timeout_s: float = 60.0) -> WrkResult:
    """One wrk run; the script is written to ``script_path`` (kept, to rerun by hand)."""
    script_path.write_text(script, encoding="utf-8")
    command = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               f"--timeout={timeout_s:g}s", "-s", str(script_path), url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (wrk, our args)
    output = done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {' '.join(command)}\n{output}")
    data = json.loads(line.removeprefix(RESULT_PREFIX))
    distribution = parse_latency_distribution(done.stdout)
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        # The --latency distribution, as wrk prints it; done()'s exact figures when it is missing.
        p50_ms=distribution.get("50", data["p50_us"] / 1000),
        p99_ms=distribution.get("99", data["p99_us"] / 1000),
        codes={int(code): n for code, n in data["codes"].items()},
        socket_errors=data["errors"],
        latency_text=distribution,
        output=output,
    )
