"""Content-Encoding (gzip, deflate) decoded under a byte budget, so a gzip bomb stops at the cap:
zlib is never asked for more than ``DECODE_STEP`` bytes per call, nor past the caller's budget."""

from __future__ import annotations

import zlib

DECODE_STEP = 256 * 1024  # never inflate more than this per zlib call


class DecodeError(Exception):
    """An unsupported or corrupt encoding; str() is one human line."""


class Decoder:
    """Content-Encoding decoder that never produces more than it is asked for in one call."""

    def __init__(self, encoding: str) -> None:
        names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
        names = [n for n in names if n != "identity"]
        if len(names) > 1:
            raise DecodeError(f"unsupported content-encoding: {encoding.strip()}")
        self.name = names[0] if names else ""
        if self.name in ("gzip", "x-gzip"):
            self._wbits = zlib.MAX_WBITS | 32  # gzip or zlib header, auto-detected
        elif self.name == "deflate":
            self._wbits = zlib.MAX_WBITS  # zlib; raw deflate tried if that fails
        elif self.name:
            raise DecodeError(f"unsupported content-encoding: {self.name}")
        self._z = zlib.decompressobj(self._wbits) if self.name else None
        self._started = False

    def decode(self, data: bytes, budget: int) -> bytes:
        """Decode ``data``, stopping once more than ``budget`` bytes have come out."""
        if self._z is None:
            return data
        out: list[bytes] = []
        produced = 0
        try:
            while data and produced <= budget:
                try:
                    piece = self._z.decompress(data, min(DECODE_STEP, budget + 1 - produced))
                except zlib.error:
                    if self.name == "deflate" and not self._started:
                        self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no header
                        self._started = True
                        continue
                    raise
                self._started = True
                out.append(piece)
                produced += len(piece)
                if self._z.eof:
                    rest = self._z.unused_data
                    if not rest or self.name == "deflate":
                        break
                    self._z = zlib.decompressobj(self._wbits)  # next gzip member
                    data = rest
                else:
                    data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise DecodeError(f"invalid {self.name} body: {exc}") from None
        return b"".join(out)

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise DecodeError(f"invalid {self.name} body: {exc}") from None
