"""Peak resident memory of a process and everything it started (a driver and its JVM).

Sampling (every ``interval`` seconds) catches peaks longer than the interval; the figure is the
largest sum of RSS over the process tree at one sample, which counts shared pages once per
process (an upper bound of the true footprint).
"""

from __future__ import annotations

import threading

import psutil


class PeakTreeRss:
    """Samples the summed RSS of process ``pid`` and its descendants until :meth:`stop`
    (with ``only``: of those whose process name contains it, e.g. the driver's ``java``).

    Examples
    --------
    >>> import os
    >>> sampler = PeakTreeRss(os.getpid())
    >>> sampler.stop() > 0
    True
    """

    def __init__(self, pid: int, interval: float = 0.05, *, only: str | None = None) -> None:
        self.peak = 0
        self._only = only  # count only processes whose name contains this (e.g. "java")
        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for proc in procs:
            try:
                if self._only is not None and self._only not in proc.name():
                    continue
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.peak = max(self.peak, total)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._sample()

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stop.set()
        self._thread.join()
        return self.peak
