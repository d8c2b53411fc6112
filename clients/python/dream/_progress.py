"""A progress bar for bulk calls: tqdm when it is importable, otherwise a plain one-line bar on stderr.

tqdm is never a dependency (the SDK stays stdlib-only); the plain bar redraws one line with a carriage
return at most every ``REDRAW_S`` seconds, and always on close, so a log file gets a few lines rather
than thousands.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Optional

REDRAW_S = 0.5


def _tqdm_class() -> Any:
    try:
        from tqdm.auto import tqdm  # type: ignore[import-not-found]
    except Exception:  # not installed, or broken
        return None
    return tqdm


class _Null:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def set_total(self, total: Optional[int]) -> None:
        pass

    def close(self) -> None:
        pass


class _Tqdm:
    def __init__(self, tqdm: Any, total: Optional[int], desc: str, unit: str, file: IO[str]) -> None:
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set_postfix_str(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=False)

    def set_total(self, total: Optional[int]) -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class PlainBar:
    """``desc: 12/100 rows (12%) 3.4 rows/s, eta 26s  <postfix>`` redrawn in place on ``file``."""

    def __init__(self, total: Optional[int], desc: str, unit: str, file: IO[str],
                 clock: Any = time.monotonic) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.file = file
        self.n = 0
        self.postfix = ""
        self._clock = clock
        self._started = clock()
        self._drawn_at: Optional[float] = None
        self._width = 0
        self._closed = False

    def line(self) -> str:
        elapsed = max(1e-9, self._clock() - self._started)
        rate = self.n / elapsed
        if self.total:
            pct = 100.0 * self.n / self.total
            text = f"{self.desc}: {self.n}/{self.total} {self.unit}s ({pct:.0f}%) {rate:.1f} {self.unit}s/s"
            if 0 < rate and self.n < self.total:
                text += f", eta {(self.total - self.n) / rate:.0f}s"
        else:
            text = f"{self.desc}: {self.n} {self.unit}s {rate:.1f} {self.unit}s/s"
        return text + (f"  {self.postfix}" if self.postfix else "")

    def _draw(self, force: bool = False) -> None:
        now = self._clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = now
        text = self.line()
        # Pad over the end of a longer earlier line (a shrinking postfix or ETA would leave its tail).
        self.file.write("\r" + text + " " * max(0, self._width - len(text)))
        self._width = len(text)
        self.file.flush()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def set_total(self, total: Optional[int]) -> None:
        self.total = total

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._draw(force=True)
        self.file.write("\n")
        self.file.flush()


def progress_bar(enabled: bool, total: Optional[int], desc: str, unit: str = "row",
                 file: Optional[IO[str]] = None) -> Any:
    """A bar with update(n), set_postfix_str(text), set_total(total) and close(); a no-op when disabled."""
    if not enabled:
        return _Null()
    out = file if file is not None else sys.stderr
    tqdm = _tqdm_class()
    if tqdm is not None:
        return _Tqdm(tqdm, total, desc, unit, out)
    return PlainBar(total, desc, unit, out)
