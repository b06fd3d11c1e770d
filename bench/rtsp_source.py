"""A minimal RTSP server that plays a pre-encoded H.264 file in a loop, in real time.

It stands in for IP cameras in the recording benchmark: the video is encoded once, before
the measurement, so serving four 1080p25 streams costs little CPU and nothing is encoded
while the recorder is measured. RTP over the RTSP TCP connection (interleaved) only, which
is what the recorder asks for. Paths are ignored: every path serves the same file.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

RTP_CLOCK = 90_000
MAX_PAYLOAD = 1400
_START_CODE = re.compile(b"\x00\x00\x01")


def nal_units(stream: bytes) -> list[bytes]:
    """Split an Annex-B byte stream into NAL units (start codes removed)."""
    starts = [m.end() for m in _START_CODE.finditer(stream)]
    units = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(stream)
        unit = stream[begin:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def access_units(units: list[bytes]) -> list[list[bytes]]:
    """Group NAL units into access units (frames)."""
    frames: list[list[bytes]] = []
    current: list[bytes] = []
    has_slice = False
    for unit in units:
        kind = unit[0] & 0x1F
        first_slice = kind in (1, 5) and len(unit) > 1 and unit[1] & 0x80
        if current and has_slice and (first_slice or kind in (6, 7, 8, 9)):
            frames.append(current)
            current, has_slice = [], False
        current.append(unit)
        has_slice = has_slice or kind in (1, 5)
    if current:
        frames.append(current)
    return frames


def rtp_payloads(unit: bytes) -> Iterator[bytes]:
    """Single NAL unit packets, or FU-A fragments for large units (RFC 6184)."""
    if len(unit) <= MAX_PAYLOAD:
        yield unit
        return
    indicator = (unit[0] & 0xE0) | 28
    kind = unit[0] & 0x1F
    body = unit[1:]
    for offset in range(0, len(body), MAX_PAYLOAD):
        start = 0x80 if offset == 0 else 0
        end = 0x40 if offset + MAX_PAYLOAD >= len(body) else 0
        yield bytes([indicator, start | end | kind]) + body[offset : offset + MAX_PAYLOAD]


class Stream:
    """A pre-encoded H.264 elementary stream and what the SDP needs to describe it."""

    def __init__(self, path: Path, fps: int) -> None:
        units = nal_units(path.read_bytes())
        self.frames = access_units(units)
        self.fps = fps
        sps = next(u for u in units if u[0] & 0x1F == 7)
        pps = next(u for u in units if u[0] & 0x1F == 8)
        self.sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
        self.profile = sps[1:4].hex()

    def sdp(self) -> str:
        return (
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ReeferWatch bench\r\nc=IN IP4 0.0.0.0\r\n"
            "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1;profile-level-id={self.profile};"
            f"sprop-parameter-sets={self.sprop}\r\na=control:trackID=0\r\n"
        )


class Session(threading.Thread):
    """One RTSP client connection: answer requests, then play the stream until it leaves."""

    def __init__(self, conn: socket.socket, stream: Stream) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.stream = stream
        self.playing = threading.Event()
        self.closed = threading.Event()
        self.send_lock = threading.Lock()
        self.session_id = str(random.randrange(10**7, 10**8))

    def run(self) -> None:
        try:
            self._serve()
        except OSError:
            pass  # the client went away: nothing to report for a benchmark source
        finally:
            self.closed.set()
            self.conn.close()

    def _serve(self) -> None:
        buffer = b""
        while not self.closed.is_set():
            chunk = self.conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while buffer:
                if buffer[0:1] == b"$":  # interleaved RTCP from the client: skip it
                    if len(buffer) < 4:
                        break
                    size = struct.unpack(">H", buffer[2:4])[0]
                    if len(buffer) < 4 + size:
                        break
                    buffer = buffer[4 + size :]
                    continue
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if not sep:
                    break
                length = re.search(rb"Content-Length:\s*(\d+)", head, re.I)
                body_len = int(length.group(1)) if length else 0
                if len(rest) < body_len:
                    break
                buffer = rest[body_len:]
                self._answer(head.decode(errors="replace"))

    def _answer(self, request: str) -> None:
        method, url = request.split(" ", 2)[:2]
        cseq = re.search(r"CSeq:\s*(\d+)", request, re.I)
        headers = [f"CSeq: {cseq.group(1) if cseq else 0}"]
        body = ""
        if method == "OPTIONS":
            headers.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER")
        elif method == "DESCRIBE":
            body = self.stream.sdp()
            headers += [f"Content-Base: {url.rstrip('/')}/", "Content-Type: application/sdp"]
        elif method == "SETUP":
            headers += [
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                f"Session: {self.session_id};timeout=60",
            ]
        elif method == "PLAY":
            headers.append(f"Session: {self.session_id}")
            threading.Thread(target=self._play, daemon=True).start()
        elif method == "TEARDOWN":
            self.closed.set()
        if body:
            headers.append(f"Content-Length: {len(body)}")
        reply = "RTSP/1.0 200 OK\r\n" + "\r\n".join(headers) + "\r\n\r\n" + body
        with self.send_lock:
            self.conn.sendall(reply.encode())

    def _play(self) -> None:
        ssrc = random.getrandbits(32)
        seq = 0
        started = time.monotonic()
        index = 0
        frames = self.stream.frames
        try:
            while not self.closed.is_set():
                due = started + index / self.stream.fps
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                timestamp = (index * RTP_CLOCK // self.stream.fps) & 0xFFFFFFFF
                packets = [p for unit in frames[index % len(frames)] for p in rtp_payloads(unit)]
                out = bytearray()
                for n, payload in enumerate(packets):
                    marker = 0x80 if n == len(packets) - 1 else 0
                    header = struct.pack(">BBHII", 0x80, marker | 96, seq, timestamp, ssrc)
                    seq = (seq + 1) & 0xFFFF
                    packet = header + payload
                    out += b"$\x00" + struct.pack(">H", len(packet)) + packet
                with self.send_lock:
                    self.conn.sendall(out)
                index += 1
        except OSError:
            self.closed.set()


class RtspSource:
    """Serve ``path`` (Annex-B H.264) on 127.0.0.1:``port`` until ``close()``."""

    def __init__(self, path: Path, fps: int, port: int = 0) -> None:
        self.stream = Stream(path, fps)
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Session(conn, self.stream).start()

    def close(self) -> None:
        self.listener.close()

    def __enter__(self) -> RtspSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("h264", type=Path, help="Annex-B H.264 file")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--port", type=int, default=8554)
    args = parser.parse_args()
    with RtspSource(args.h264, args.fps, args.port) as source:
        print(source.url("cam"), flush=True)
        threading.Event().wait()
