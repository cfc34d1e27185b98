"""The gunicorn worker: gunicorn's gthread worker, whose client connections give up on clients that send too slowly.

A gthread worker hands a connection to one of its request threads as soon as the first byte arrives, and the
thread then waits on the socket for the rest of the request. A client sending a byte at a time would hold that
thread for as long as it likes; 16 such clients took every thread and /health stopped answering. Here every read
on a client socket waits at most OCR_CLIENT_IDLE_TIMEOUT seconds for a byte, and all the reads of one request
(headers and body) end OCR_CLIENT_READ_TIMEOUT seconds after it began. Together with enough request threads
(OCR_THREADS, cheap: they wait on sockets, not on the GIL) the slow clients cost threads, never the service.
Idle connections never held a thread: gunicorn parks them on its poller.
"""
from __future__ import annotations

import errno
import socket
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

from deepseek_ocr_api.settings import Settings

# Set when gunicorn tells this worker to stop (SIGTERM): gunicorn then waits for the requests in flight, so the
# long-lived ones (job event streams) end at once, and their clients reconnect to the server that comes back.
SHUTTING_DOWN = threading.Event()


class ClientTooSlow(ConnectionResetError):
    """A client sent its request (or read its response) too slowly: the server drops the connection, as gunicorn
    drops one the client reset."""


class ClientSocket(socket.socket):
    """A client connection whose blocking reads and writes wait at most `idle_timeout` seconds, and whose reads
    end at `deadline`."""

    idle_timeout: float = 30.0
    deadline: float | None = None
    gave_up = False  # once a read timed out, the connection is done: gunicorn closes it at the next read

    @classmethod
    def adopt(cls, sock: socket.socket, idle_timeout: float) -> ClientSocket:
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.idle_timeout = idle_timeout
        adopted.setblocking(False)
        return adopted

    def setblocking(self, flag: bool) -> None:
        # gunicorn makes the socket blocking for its request thread: blocking, but with the idle timeout.
        if flag:
            self.settimeout(self.idle_timeout)
        else:
            super().setblocking(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.gettimeout() != 0.0:
            remaining = self.idle_timeout if self.deadline is None else self.deadline - time.monotonic()
            if remaining <= 0 or self.gave_up:
                self.gave_up = True
                raise ClientTooSlow(errno.ECONNRESET, "The client did not send its request in time")
            self.settimeout(min(self.idle_timeout, remaining))
        try:
            return super().recv(bufsize, flags)
        except TimeoutError as exc:
            self.gave_up = True
            raise ClientTooSlow(errno.ECONNRESET, "The client sent nothing for too long") from exc

    def sendall(self, data, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except TimeoutError as exc:
            raise ClientTooSlow(errno.ECONNRESET, "The client read nothing of the response for too long") from exc


class ClientTimeoutWorker(ThreadWorker):
    """gthread, with ClientSocket connections."""

    def init_process(self) -> None:
        settings = Settings.load(warn_unknown=False)
        self.idle_timeout, self.read_timeout = settings.client_idle_timeout, settings.client_read_timeout
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        SHUTTING_DOWN.set()
        super().handle_exit(sig, frame)

    def enqueue_req(self, conn) -> None:
        # Runs on the main thread, before a request thread ever sees the connection.
        if not isinstance(conn.sock, ClientSocket):
            conn.sock = ClientSocket.adopt(conn.sock, self.idle_timeout)
        super().enqueue_req(conn)

    def handle(self, conn):
        conn.sock.deadline = time.monotonic() + self.read_timeout  # one request: its headers and its body
        return super().handle(conn)
