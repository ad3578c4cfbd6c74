"""The one pooled HTTP/2 client per process that each push backend talks through."""

import os
import ssl
import threading

import httpx


class ProcessClient:
    """An httpx HTTP/2 client made on first use in each process: a forked worker makes its own, since
    sockets cannot be shared across a fork."""

    def __init__(self, *, timeout: float, ca_file: str | None = None, max_connections: int | None = None):
        self.timeout = timeout
        self.ca_file = ca_file  # trust a stand-in's certificate (tests, staging)
        self.max_connections = max_connections
        self._client: httpx.Client | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                limits = httpx.Limits(
                    max_connections=self.max_connections, max_keepalive_connections=self.max_connections
                )
                self._client = httpx.Client(
                    http2=True,
                    verify=ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True,
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                    limits=limits,
                )
                self._pid = os.getpid()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
