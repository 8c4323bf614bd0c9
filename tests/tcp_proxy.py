"""A TCP forwarder to a test server that can be cut for good or for a while, to play a database that
goes away (a network partition, a server restart)."""
from __future__ import annotations

import socket
import threading


class Proxy:
    """Forwards 127.0.0.1:`port` (the proxy's own) to 127.0.0.1:`target`. `cut()` ends it for good;
    `down()` drops every connection and refuses new ones (each is closed at once) until `up()`."""

    def __init__(self, target: int):
        self.target, self.sockets = target, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _drop_all(self) -> None:
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets = []

    def down(self) -> None:
        self.refusing = True
        self._drop_all()

    def up(self) -> None:
        self.refusing = False

    def cut(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() and stops listening
        self.listener.close()
        self._drop_all()
