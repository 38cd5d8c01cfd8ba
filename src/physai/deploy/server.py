"""Policy server: a verified package behind a websocket, speaking openpi's msgpack-numpy protocol.

Protocol (compatible with `openpi_client.WebsocketClientPolicy`): on connect the server sends one packed
metadata map (package, observation spec, action spec); then for every packed observation map the
client sends, it answers `{"actions": float32 (H, A), "server_timing": {...}}`. Invalid requests get a
text frame with the reason and a close (1008 policy violation; 1009 too big; 1011 internal error);
the server keeps serving every other client. `GET /healthz` answers 200.

Execution: the metadata carries the execution the client should run (the contract's, or
`ServerConfig.execution`). In 'rtc' mode a client adds what it has committed to each request:
`committed_actions` float32 (n, A), the actions it will execute from the observation's cycle on, and
`inference_delay` (int, control periods it expects the answer to take); for a package whose contract
says `rtc='inpaint'` the new chunk starts with exactly those first d actions and is guided toward the
rest (for 'blend' packages the client blends). Both keys are optional (a plain openpi client still
works) and refused outside rtc mode.

Requests from all clients are batched dynamically (up to `max_batch`, waiting at most `max_wait_ms`
for more) and run on the package's batched model. A token is required (header `Authorization: Api-Key
<token>` as openpi sends it, or `Bearer <token>`) unless the server is bound to loopback with
`insecure_local`; any missing or bad token (wrong scheme, wrong value, non-ASCII bytes) gets HTTP 401.
Several client tokens may be accepted (`tokens`, e.g. one per robot from a token file with one token a
line); each may hold at most `max_connections_per_token` connections (more get HTTP 429), so one leaked
or runaway client cannot take every connection slot from the others. Decoding never unpickles.
Checked against the `openpi-client` 0.1.2 wheel from PyPI: its `WebsocketClientPolicy` (with
`api_key`) reads the metadata, gets actions, and raises with the server's reason on an invalid
observation.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import threading
import time
from dataclasses import dataclass

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from physai.core.contract import RTC_INPUTS
from physai.core.errors import ConfigError
from physai.core.execution import describe_execution, resolve_execution, rtc_inputs
from physai.deploy import msgpack_numpy as mp
from physai.deploy.package import Package

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TEXT_KEYS = ("prompt", "instruction")
RTC_KEYS = ("committed_actions", "inference_delay")


@dataclass
class ServerConfig:
    """Options of the policy server."""

    host: str = "127.0.0.1"
    """Address to bind (0.0.0.0 for all interfaces; requires a token)."""
    port: int = 8000
    """TCP port (0: any free port)."""
    token: str | None = None
    """Shared secret clients must present; None only with insecure_local (or when `tokens` is set)."""
    tokens: tuple[str, ...] = ()
    """More accepted client tokens (e.g. one per robot or client; `physai serve --token-file` with one
    token a line); each is printable ASCII without spaces and has its own connection cap."""
    insecure_local: bool = False
    """Serve without a token; allowed only when bound to loopback."""
    max_batch: int = 16
    """Largest batch of requests run together (1 disables batching)."""
    max_wait_ms: float = 2.0
    """How long the batcher waits for more requests after the first one."""
    rate_limit_hz: float = 500.0
    """Requests per second allowed per connection (token bucket with one second of burst)."""
    max_message_bytes: int | None = None
    """Largest accepted message (None: twice the package's input size plus 64 KiB)."""
    max_connections: int = 256
    """Concurrent connections accepted in all; more get HTTP 503."""
    max_connections_per_token: int | None = None
    """Concurrent connections one token may hold; more get HTTP 429. None: max_connections shared out
    evenly among the tokens (all of it with a single token), so every token always has room."""
    execution: str | None = None
    """Execution mode the clients are told to run, overriding the contract's ('sync', 'queue',
    'ensemble', 'rtc', optionally ':HORIZON'); None: the contract's."""


def _check_tokens(cfg: ServerConfig) -> list[bytes]:
    """The accepted tokens as bytes; refuses empty, duplicate or non-printable ones (naming which)."""
    toks = ([cfg.token] if cfg.token is not None else []) + list(cfg.tokens)
    for k, t in enumerate(toks):
        where = "token" if (k == 0 and cfg.token is not None) else f"tokens[{k - (cfg.token is not None)}]"
        if not isinstance(t, str) or not t:
            raise ConfigError(f"{where} must be a non-empty string; write the token into the token file")
        if not all("!" <= c <= "~" for c in t):
            raise ConfigError(
                f"{where} (length {len(t)}) contains a character outside printable ASCII or a space; "
                "HTTP headers carry ASCII only, so use e.g. `openssl rand -hex 32`"
            )
    if len(set(toks)) != len(toks):
        raise ConfigError("the same token is listed twice; give each client its own token (one a line)")
    return [t.encode("ascii") for t in toks]


class RequestError(ValueError):
    """A client request that violates the protocol or the package's observation spec."""


def validate_obs(
    obs: object, inputs: list[dict], optional: tuple[str, ...] = TEXT_KEYS
) -> list[np.ndarray]:
    """Check keys, dtypes, shapes and finiteness; return the arrays in input order (unbatched)."""
    if not isinstance(obs, dict):
        raise RequestError(f"observation must be a map, got {type(obs).__name__}")
    names = [i["name"] for i in inputs]
    keys = {k if isinstance(k, str) else repr(k) for k in obs}
    unknown = sorted(keys - set(names) - set(optional))
    missing = [n for n in names if n not in obs]
    if unknown or missing:
        raise RequestError(
            f"observation keys: missing {missing}, unknown {unknown}; expected {names} "
            f"(optionally {list(optional)})"
        )
    for k in TEXT_KEYS:
        if k in obs and not (isinstance(obs[k], str) and len(obs[k]) <= 2048):
            raise RequestError(f"{k!r} must be a string of at most 2048 characters")
    out = []
    for i in inputs:
        a = obs[i["name"]]
        if not isinstance(a, np.ndarray):
            raise RequestError(f"{i['name']!r} must be a numpy array (msgpack-numpy), got {type(a).__name__}")
        if a.dtype != np.dtype(i["dtype"]):
            raise RequestError(f"{i['name']!r} has dtype {a.dtype}, expected {i['dtype']}")
        shape = tuple(i["shape"])
        if a.shape == (1, *shape):
            a = a[0]
        if a.shape != shape:
            raise RequestError(f"{i['name']!r} has shape {a.shape}, expected {shape}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise RequestError(f"{i['name']!r} contains NaN or inf")
        out.append(a)
    return out


def committed_from(obs: dict, chunk_size: int, action_dim: int) -> tuple[np.ndarray, int] | None:
    """The (committed actions (n, A), delay) an rtc client sent, validated; None when it sent none."""
    if not any(k in obs for k in RTC_KEYS):
        return None
    if not all(k in obs for k in RTC_KEYS):
        raise RequestError(f"send both {list(RTC_KEYS)} (or neither)")
    a, d = obs[RTC_KEYS[0]], obs[RTC_KEYS[1]]
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.ndim != 2:
        raise RequestError(f"{RTC_KEYS[0]!r} must be a float32 (n, {action_dim}) array")
    if a.shape[1] != action_dim or a.shape[0] > chunk_size:
        raise RequestError(
            f"{RTC_KEYS[0]!r} has shape {a.shape}, expected (n, {action_dim}) with n <= {chunk_size}"
        )
    if not np.all(np.isfinite(a)):
        raise RequestError(f"{RTC_KEYS[0]!r} contains NaN or inf")
    if isinstance(d, np.ndarray) and d.shape == () and d.dtype.kind in "iu":
        d = int(d)
    if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= chunk_size:
        raise RequestError(f"{RTC_KEYS[1]!r} must be an integer count of periods in [0, {chunk_size}]")
    return a, d


def metadata(pkg: Package, cfg: ServerConfig) -> dict:
    """The map sent on connect: what the package expects and returns."""
    return {
        "server": "physai",
        "protocol": "openpi-websocket-msgpack-numpy",
        "contract": pkg.contract.to_dict(),
        "embodiment": pkg.contract.embodiment,
        "control": pkg.contract.control,
        "fps": pkg.contract.control_hz,
        "chunk_size": pkg.contract.chunk_size,
        "execution_horizon": resolve_execution(pkg.contract, cfg.execution).horizon,
        "execution": describe_execution(pkg.contract, resolve_execution(pkg.contract, cfg.execution)),
        "observation_spec": {
            i["name"]: {"shape": list(i["shape"]), "dtype": i["dtype"], "names": i.get("names", [])}
            for i in pkg.inputs
            if i["name"] not in RTC_INPUTS
        },
        "optional_keys": list(TEXT_KEYS) + (list(RTC_KEYS) if _rtc(pkg, cfg) else []),
        "action_spec": {
            "shape": pkg.policy["output"]["shape"],
            "dtype": "float32",
            "names": pkg.policy["output"]["names"],
        },
        "signed_by": pkg.signed_by,
        "max_batch": cfg.max_batch,
    }


def _rtc(pkg: Package, cfg: ServerConfig) -> bool:
    return resolve_execution(pkg.contract, cfg.execution).mode == "rtc"


class PolicyServer:
    """Serves one package; `serve(stop)` runs until `stop` is set, then shuts down gracefully."""

    def __init__(self, pkg: Package, config: ServerConfig | None = None) -> None:
        cfg = self.cfg = config or ServerConfig()
        self._tokens = _check_tokens(cfg)
        if not self._tokens and not cfg.insecure_local:
            raise ConfigError(
                "the policy server needs --token-file, or --insecure-local to serve without a token "
                "on loopback only"
            )
        if not self._tokens and cfg.host not in LOOPBACK:
            raise ConfigError(
                f"--insecure-local binds loopback only; refusing to serve without a token on {cfg.host!r}"
            )
        if cfg.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {cfg.max_batch}")
        if cfg.max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {cfg.max_connections}")
        per = cfg.max_connections_per_token
        if per is not None and not 1 <= per <= cfg.max_connections:
            raise ConfigError(
                f"max_connections_per_token must be between 1 and max_connections ({cfg.max_connections}), "
                f"got {per}"
            )
        self.per_token_cap = per or max(1, cfg.max_connections // max(1, len(self._tokens)))
        self.pkg = pkg
        self.execution = resolve_execution(pkg.contract, cfg.execution)  # refuses an impossible choice
        self.rtc = self.execution.mode == "rtc"
        self.obs_inputs = [i for i in pkg.inputs if i["name"] not in RTC_INPUTS]
        self.optional = TEXT_KEYS + (RTC_KEYS if self.rtc else ())
        self.meta = metadata(pkg, cfg)
        size = sum(int(np.prod(i["shape"])) * np.dtype(i["dtype"]).itemsize for i in pkg.inputs)
        self.max_message = cfg.max_message_bytes or 2 * size + 65536
        self.batched = pkg.has_batched and cfg.max_batch > 1
        self.stats = {"requests": 0, "batches": 0, "refused": 0, "connections": 0}
        self.port: int | None = None
        self._queue: asyncio.Queue | None = None
        self._active = 0  # connections holding a slot (reserved at the handshake, freed on close)
        self._per_token = [0] * len(self._tokens)
        self._releases: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ http hooks
    def _token_index(self, request) -> int | None:
        """Which accepted token the request presents (None: missing or bad). Never raises."""
        try:
            values = request.headers.get_all("Authorization")
            if len(values) != 1:
                return None
            scheme, _, value = values[0].strip().partition(" ")
            if scheme not in ("Api-Key", "Bearer"):
                return None
            # websockets decodes header bytes as ISO-8859-1: encoding back gives the bytes sent, and
            # bytes compare without the TypeError compare_digest raises on non-ASCII str
            presented = value.strip().encode("latin-1", "replace")
            found = None
            for k, tok in enumerate(self._tokens):  # compare with every token: no early exit
                if hmac.compare_digest(presented, tok):
                    found = k
            return found
        except Exception:
            return None

    def _process_request(self, connection: ServerConnection, request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        key = None
        if self._tokens:
            key = self._token_index(request)
            if key is None:
                self.stats["refused"] += 1
                return connection.respond(
                    http.HTTPStatus.UNAUTHORIZED,
                    "missing or bad token: send 'Authorization: Api-Key <token>'\n",
                )
        if self._active >= self.cfg.max_connections:
            self.stats["refused"] += 1
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        if key is not None and self._per_token[key] >= self.per_token_cap:
            self.stats["refused"] += 1
            return connection.respond(
                http.HTTPStatus.TOO_MANY_REQUESTS,
                f"too many connections for this token (max_connections_per_token={self.per_token_cap}); "
                "close one, or give each client its own token\n",
            )
        # reserve the slot now (not in the handler) so concurrent handshakes cannot overshoot the caps;
        # it is freed when the TCP connection closes, whether or not the handshake completes
        self._active += 1
        if key is not None:
            self._per_token[key] += 1
        task = asyncio.get_running_loop().create_task(self._release(connection, key))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        return None

    async def _release(self, connection: ServerConnection, key: int | None) -> None:
        try:
            await connection.wait_closed()
        finally:
            self._active -= 1
            if key is not None:
                self._per_token[key] -= 1

    # ------------------------------------------------------------------ per connection
    async def _handler(self, ws: ServerConnection) -> None:
        self.stats["connections"] += 1
        rate, allowance, last = self.cfg.rate_limit_hz, self.cfg.rate_limit_hz, time.monotonic()
        try:
            await ws.send(mp.packb(self.meta))
            async for msg in ws:
                now = time.monotonic()
                allowance = min(rate, allowance + (now - last) * rate)
                last = now
                try:
                    if allowance < 1.0:
                        raise RequestError(f"rate limit exceeded: at most {rate:g} requests/s per connection")
                    allowance -= 1.0
                    if isinstance(msg, str):
                        raise RequestError("expected a binary msgpack frame, got text")
                    obs = mp.unpackb(msg, max_size=self.max_message)
                    arrays = validate_obs(obs, self.obs_inputs, self.optional)
                    arrays += self._rtc_arrays(obs)  # type: ignore[arg-type]  # validate_obs: a dict
                except (RequestError, mp.DecodeError) as exc:
                    self.stats["refused"] += 1
                    await ws.send(f"invalid request: {exc}")
                    await ws.close(1008, str(exc)[:120])
                    return
                t0 = time.perf_counter()
                fut = asyncio.get_running_loop().create_future()
                await self._queue.put((arrays, fut, t0))
                try:
                    actions, timing = await fut
                except Exception as exc:  # inference failed: report and close this connection only
                    await ws.send(f"internal error: {type(exc).__name__}: {exc}")
                    await ws.close(1011, "internal error")
                    return
                timing["total_ms"] = (time.perf_counter() - t0) * 1e3
                await ws.send(mp.packb({"actions": actions, "server_timing": timing}))
                self.stats["requests"] += 1
        except ConnectionClosed:
            pass

    def _rtc_arrays(self, obs: dict) -> list[np.ndarray]:
        """The package's rtc model inputs from what the client committed (zeros when it sent nothing)."""
        if len(self.obs_inputs) == len(self.pkg.inputs):
            if self.rtc:
                committed_from(obs, self.pkg.contract.chunk_size, self.pkg.contract.action_dim)  # validate
            return []  # a 'blend' package: the client blends
        c = self.pkg.contract
        got = committed_from(obs, c.chunk_size, c.action_dim) if self.rtc else None
        if got is None:
            return [np.zeros((c.chunk_size, c.action_dim), np.float32), np.zeros(c.chunk_size, np.float32)]
        r = rtc_inputs(got[0], got[1], c.chunk_size)
        return [r[RTC_INPUTS[0]], r[RTC_INPUTS[1]]]

    # ------------------------------------------------------------------ batching
    async def _batcher(self) -> None:
        loop = asyncio.get_running_loop()
        q = self._queue
        while True:
            items = [await q.get()]
            deadline = loop.time() + self.cfg.max_wait_ms / 1e3
            while len(items) < self.cfg.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(q.get(), left))
                except TimeoutError:
                    break
            t0 = time.perf_counter()
            try:
                out = await loop.run_in_executor(None, self._infer, [it[0] for it in items])
            except Exception as exc:
                for _, fut, _ in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            infer_ms = (time.perf_counter() - t0) * 1e3
            self.stats["batches"] += 1
            for k, (_, fut, tq) in enumerate(items):
                if not fut.done():
                    fut.set_result(
                        (
                            out[k],
                            {"infer_ms": infer_ms, "queue_ms": (t0 - tq) * 1e3, "batch_size": len(items)},
                        )
                    )

    def _infer(self, batch: list[list[np.ndarray]]) -> np.ndarray:
        if self.batched:
            arrays = [np.stack([b[j] for b in batch]) for j in range(len(self.pkg.inputs))]
            return self.pkg.infer_batch(arrays)
        return np.stack(
            [self.pkg.infer({i["name"]: a for i, a in zip(self.pkg.inputs, b, strict=True)}) for b in batch]
        )

    # ------------------------------------------------------------------ lifecycle
    async def serve(self, stop: asyncio.Event, ready: threading.Event | None = None) -> None:
        """Serve until `stop` is set; then stop accepting, close connections (1001) and return."""
        self._queue = asyncio.Queue()
        batcher = asyncio.create_task(self._batcher())
        async with serve(
            self._handler,
            self.cfg.host,
            self.cfg.port,
            process_request=self._process_request,
            max_size=self.max_message,
            compression=None,
            ping_interval=20,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            if ready is not None:
                ready.set()
            await stop.wait()
            server.close()
            await server.wait_closed()
            if self._releases:  # every connection is closed: let the slot releases run
                await asyncio.wait(set(self._releases), timeout=5)
        batcher.cancel()


class ServerThread:
    """Runs a PolicyServer on its own event loop in a background thread (tests, benchmarks, embedding)."""

    def __init__(self, server: PolicyServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="physai-serve", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.run_until_complete(self.server.serve(self._stop, self._ready))

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise ConfigError("the policy server did not start within 10 s")
        return self

    @property
    def port(self) -> int:
        return int(self.server.port)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
