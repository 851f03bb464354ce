"""A fault point between a gRPC client and the emulator's gRPC port, controlled by tests and benchmarks: a TCP proxy
that reads the HTTP/2 frames passing through, so it can cut a connection after an append has reached the server
(its answer dropped), refuse connections (the client sees UNAVAILABLE), or delay answers.

Hand-written (about 150 lines) because the fault must fall between "the server took the request" and "the client
read the answer", which a generic TCP proxy cannot see; gRPC's own interceptors run inside the client or server."""

import socket
import threading
import time
from typing import Dict, List, Optional, Tuple

_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'  # what an HTTP/2 client sends first (RFC 9113 3.4)
_HEADER = 9  # an HTTP/2 frame header: 24-bit length, type, flags, 31-bit stream id
_DATA = 0
MIN_REQUEST_BYTES = 1024  # a call's request body at least this large is an append (control calls are smaller)


def _frames(buffer: bytearray) -> List[Tuple[int, int, bytes]]:
    """The complete frames at the head of buffer as (type, stream, whole frame bytes), removed from it."""
    found = []
    while len(buffer) >= _HEADER:
        length = int.from_bytes(buffer[:3], 'big')
        if len(buffer) < _HEADER + length:
            break
        frame = bytes(buffer[:_HEADER + length])
        del buffer[:_HEADER + length]
        found.append((frame[3], int.from_bytes(frame[5:9], 'big') & 0x7FFFFFFF, frame))
    return found


class FaultProxy:
    """Listens on 127.0.0.1:<free port> (`address`) and forwards to `target` (host:port). Faults, changed at any
    time: cut_every=N cuts the connection at every N-th append answer (the append was applied, its answer is lost);
    delay_every=M holds every M-th other answer delay_s seconds; refuse=K closes the next K connections at once (the
    client sees UNAVAILABLE). Counts in `stats`."""

    def __init__(self, target: str, host: str = '127.0.0.1', min_request_bytes: int = MIN_REQUEST_BYTES):
        target_host, _, target_port = target.rpartition(':')
        self._target = (target_host, int(target_port))
        self._min_request_bytes = min_request_bytes
        self._lock = threading.Lock()
        self.cut_every, self.delay_every, self.delay_s, self.refuse = 0, 0, 0.0, 0
        self.stats = {'connections': 0, 'refused': 0, 'answers': 0, 'cut': 0, 'delayed': 0}
        self._listener = socket.create_server((host, 0))
        self.address = '%s:%d' % (host, self._listener.getsockname()[1])
        self._sockets: List[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name='fault-proxy', daemon=True)

    def __enter__(self) -> 'FaultProxy':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_faults(self, cut_every: int = 0, delay_every: int = 0, delay_s: float = 0.0, refuse: int = 0) -> None:
        with self._lock:
            self.cut_every, self.delay_every, self.delay_s, self.refuse = cut_every, delay_every, delay_s, refuse

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.stats['connections'] += 1
                refuse = self.refuse > 0
                if refuse:
                    self.refuse -= 1
                    self.stats['refused'] += 1
            if refuse:
                _close(client)
                continue
            try:
                server = socket.create_connection(self._target, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            request_bytes: Dict[int, int] = {}  # per HTTP/2 stream: the request body bytes the client sent
            threading.Thread(target=self._upstream, args=(client, server, request_bytes), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, request_bytes), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, request_bytes: Dict[int, int]) -> None:
        """Client -> server, forwarded as it comes; DATA frames are counted per stream."""
        buffer, preface = bytearray(), len(_PREFACE)
        try:
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                server.sendall(chunk)
                buffer += chunk
                if preface:
                    skipped = min(preface, len(buffer))
                    del buffer[:skipped]
                    preface -= skipped
                for kind, stream, frame in _frames(buffer):
                    if kind == _DATA:
                        request_bytes[stream] = request_bytes.get(stream, 0) + len(frame) - _HEADER
        except OSError:
            pass
        _close(client)
        _close(server)

    def _downstream(self, server: socket.socket, client: socket.socket, request_bytes: Dict[int, int]) -> None:
        """Server -> client, frame by frame; the first DATA frame answering an append is where faults apply."""
        buffer = bytearray()
        try:
            while True:
                chunk = server.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                out = bytearray()
                for kind, stream, frame in _frames(buffer):
                    if kind == _DATA and request_bytes.pop(stream, 0) >= self._min_request_bytes:
                        fault, delay = self._fault_for_answer()
                        if fault == 'cut':
                            raise OSError('cut')
                        if fault == 'delay':
                            client.sendall(out)
                            out = bytearray()
                            time.sleep(delay)
                    out += frame
                client.sendall(out)
        except OSError:
            pass
        _close(client)
        _close(server)

    def _fault_for_answer(self) -> Tuple[Optional[str], float]:
        """('cut' | 'delay' | None, seconds) for the next append answer, counted."""
        with self._lock:
            self.stats['answers'] += 1
            number = self.stats['answers']
            if self.cut_every and number % self.cut_every == 0:
                self.stats['cut'] += 1
                return 'cut', 0.0
            if self.delay_every and number % self.delay_every == 0:
                self.stats['delayed'] += 1
                return 'delay', self.delay_s
            return None, 0.0


def _close(sock: Optional[socket.socket]) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
