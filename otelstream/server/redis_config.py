"""Which Redis, and how: the stream store URL, its options, and redis-py clients for it.

``redis://[[user]:password@]host[:port][/db]`` (``rediss://``: TLS; ``unix:///path.sock``)
is one Redis server; ``redis+cluster://host:port`` (``rediss+cluster://``: TLS) is any node of
a Redis Cluster, whose other nodes redis-py discovers. Query parameters set otelstream's
options (``OPTIONS`` below: ``?max_items=20000&ttl=600``); any other is a redis-py connection
option (``?socket_keepalive=true``), as in ``redis.from_url``. Messages never show the
password.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from otelstream.server.store import StoreUnavailable

STORE_ENV = "OTELSTREAM_STREAM_STORE"
SCHEMES = {
    "redis": ("redis", False),
    "rediss": ("rediss", False),
    "unix": ("unix", False),
    "redis+cluster": ("redis", True),
    "rediss+cluster": ("rediss", True),
}
"""URL scheme -> (the scheme redis-py reads, a Redis Cluster?)."""


@dataclass(frozen=True)
class RedisOptions:
    """The Redis store's bounds and limits (each one also a URL query parameter)."""

    prefix: str = "otelstream"
    """Every key starts with it (``otelstream:{<thread id>}:...``)."""
    max_items: int = 50_000
    """Items kept per run: its stream is trimmed to about that many (``MAXLEN ~``); 0: no
    bound by count. The run's first item is always served."""
    max_age: float = 0.0
    """Seconds an item is kept (``MINID ~``, from the items' ids); 0: no bound by age."""
    ttl: float = 3600.0
    """Seconds a run is kept after it ends."""
    live_ttl: float = 86400.0
    """Seconds a running run is kept after its last item (a run whose process died ends so)."""
    max_runs: int = 1000
    """Runs listed per thread (``runs.list``) and in all (``GET /runs``)."""
    queue_items: int = 100_000
    """Items a publishing process holds while Redis is slow or away; beyond, they are
    dropped (counted, and marked in their runs' streams)."""
    queue_bytes: int = 64 * 1024 * 1024
    """The same bound in bytes of item data."""
    timeout: float = 5.0
    """Seconds to connect, and to wait for an answer to one command."""

    def __post_init__(self) -> None:
        for name in ("max_items", "max_age", "max_runs"):
            if getattr(self, name) < 0:
                raise ValueError(f"the Redis store's {name} must be >= 0")
        for name in ("ttl", "live_ttl", "queue_items", "queue_bytes", "timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"the Redis store's {name} must be > 0")
        if not self.prefix or "{" in self.prefix or "}" in self.prefix:
            raise ValueError("the Redis store's prefix must be non-empty, without { or }")


OPTIONS = {f.name: f.type for f in dataclasses.fields(RedisOptions)}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed store URL: what redis-py connects to, and otelstream's options."""

    url: str
    """For redis-py: the URL without otelstream's query parameters or ``+cluster``."""
    cluster: bool
    options: RedisOptions
    shown: str
    """The URL as messages show it (no password)."""


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def parse(url: str, **overrides: Any) -> RedisTarget:
    """A store URL -> its target; ``overrides`` (option names) win over the URL's. Raises
    ``ValueError`` with a one-line message for a bad URL or option."""
    shown = redacted(url)
    try:
        parts = urlsplit(url)
        scheme, cluster = SCHEMES[parts.scheme.lower()]
    except (KeyError, ValueError):
        raise ValueError(
            f"unsupported stream store URL {shown!r}: expected redis://, rediss://, "
            "unix://, redis+cluster:// or rediss+cluster://"
        ) from None
    values: dict[str, Any] = {}
    rest = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in OPTIONS:
            values[name] = _typed(name, value)
        else:
            rest.append((name, value))
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted((set(values) - set(OPTIONS)) | ({n for n, _ in rest} - _redis_options()))
    if unknown:
        raise ValueError(
            f"unknown Redis store option(s) {unknown} in {shown}: otelstream's are "
            f"{sorted(OPTIONS)}, the others redis-py connection options"
        )
    options = RedisOptions(**values)
    plain = urlunsplit(parts._replace(scheme=scheme, query=urlencode(rest)))
    return RedisTarget(plain, cluster, options, shown)


def _redis_options() -> set[str]:
    """The query parameters redis-py's URLs take (its connections' keyword arguments)."""
    import inspect

    import redis.connection as rc

    names = set(rc.URL_QUERY_ARGUMENT_PARSERS)
    for kind in (rc.AbstractConnection, rc.SSLConnection, rc.UnixDomainSocketConnection):
        names.update(inspect.signature(kind.__init__).parameters)
    return names - {"self", "args", "kwargs"}


def _typed(name: str, value: str) -> Any:
    kind = OPTIONS[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise ValueError(f"the Redis store's {name} must be a number, not {value!r}") from None
    return value


def sync_client(target: RedisTarget) -> Any:
    """A redis-py client for the publishing thread (connects on first use; a cluster
    client reads the cluster's layout at once)."""
    import redis
    from redis.cluster import RedisCluster

    timeout = target.options.timeout
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "protocol": 2,  # the reply shapes redis-py gives with every version
    }
    if target.cluster:
        return RedisCluster.from_url(target.url, **kwargs)
    return redis.Redis.from_url(target.url, **kwargs)


def async_client(target: RedisTarget, longest_block: float) -> Any:
    """A redis-py asyncio client for the readers: its commands may block up to
    ``longest_block`` seconds (``XREAD BLOCK``) on top of the usual timeout."""
    import redis.asyncio
    from redis.asyncio.cluster import RedisCluster

    timeout = target.options.timeout
    kwargs: dict[str, Any] = {
        "socket_timeout": longest_block + timeout,
        "socket_connect_timeout": timeout,
        "protocol": 2,
    }
    if target.cluster:
        return RedisCluster.from_url(target.url, **kwargs)
    return redis.asyncio.Redis.from_url(target.url, **kwargs)


def unavailable(target: RedisTarget, exc: BaseException) -> StoreUnavailable:
    """A one-line ``StoreUnavailable`` for a redis-py failure, naming the store."""
    import redis.exceptions

    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, redis.exceptions.AuthenticationError) or "WRONGPASS" in detail:
        what = "refused the credentials"
    elif isinstance(exc, redis.exceptions.ResponseError):
        what = "refused a command"
    else:
        what = "is unreachable"
    return StoreUnavailable(f"the stream store {target.shown} {what}: {detail}")


def check(target: RedisTarget) -> None:
    """Connect and ``PING`` once; raises ``StoreUnavailable`` (one line) if that fails."""
    try:
        client = sync_client(target)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        raise unavailable(target, exc) from None
