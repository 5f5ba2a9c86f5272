"""The production server: uvicorn, one or several worker processes, on the application of
``$XEROTRIAL_DB`` (:func:`~.app.app_from_environment`).

With several workers uvicorn binds the listening socket itself and hands it to them. That
socket is made with protocol 0, so asyncio leaves Nagle's algorithm on for every connection it
accepts (it sets ``TCP_NODELAY`` only when the socket says ``IPPROTO_TCP``): each keep-alive
request after the first then waits for the client's delayed ACK, about 40 ms on Linux
(uvicorn issue 3149). :class:`NoDelayConfig` binds the same socket and labels it TCP.

Example
-------
>>> sock = NoDelayConfig("x:y", host="127.0.0.1", port=0).bind_socket()
>>> sock.proto == socket.IPPROTO_TCP
True
>>> sock.close()
"""

from __future__ import annotations

import inspect
import socket

import uvicorn

__all__ = ["NoDelayConfig", "serve"]

APP = "xerotrial.web.app:app_from_environment"


class NoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, whose bound TCP socket says it is TCP (see the module)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


def serve(host: str, port: int, workers: int) -> None:
    """Run the server until it is stopped (the store and session key come from the
    environment, set by ``xerotrial serve``)."""
    config = NoDelayConfig(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=True,
    )
    server = uvicorn.Server(config)
    if workers == 1:
        server.run()
        return
    from uvicorn.supervisors import Multiprocess

    takes_target = "target" in inspect.signature(Multiprocess).parameters  # uvicorn < 0.30
    kwargs = {"target": server.run} if takes_target else {}
    Multiprocess(config, sockets=[config.bind_socket()], **kwargs).run()
