"""Timing helpers: bounded loops, interleaved rounds, medians, and the result records.

Rules:

* every loop is bounded twice, by a count and by a time budget (the first one reached ends it);
* clients are measured in rounds (A, B, C, ... repeated), the order rotated every round, and
  the median of the rounds is reported: a burst of noise on the shared machine hits every
  client alike instead of one of them;
* a response of the wrong size stops the run: a fast wrong answer must never become a figure.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from _clients import BASELINE


@dataclass
class Row:
    name: str
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU time per operation, same rounds
    note: str = ""  # "n/a (...)" when the client cannot run; else a remark
    available: bool = True

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and self.available else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu and self.available else None


@dataclass
class Table:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    rows: list[Row]
    description: str = ""
    baseline: str = BASELINE
    fmt: str = "{:,.0f}"
    cpu_unit: str = "µs/op"

    def row(self, name: str) -> Row | None:
        for row in self.rows:
            if row.name == name:
                return row
        return None

    def median(self, name: str) -> float | None:
        row = self.row(name)
        return row.median if row else None

    def ratio(self, name: str, baseline: str | None = None) -> float | None:
        """``name`` relative to the baseline: the median of per-round ratios.

        Samples of one round were taken seconds apart, so pairing them cancels the slow
        swings in load of a shared machine. Rows without paired rounds fall back to the ratio
        of the medians.
        """
        row, base = self.row(name), self.row(baseline or self.baseline)
        if row is None or base is None or row.median is None or not base.median:
            return None
        if len(row.samples) == len(base.samples) and all(base.samples):
            pairs = zip(row.samples, base.samples, strict=True)
            return statistics.median(a / b for a, b in pairs)
        return row.median / base.median

    def cpu_ratio(self, name: str, baseline: str | None = None) -> float | None:
        """CPU time per operation relative to the baseline (paired rounds; lower is better)."""
        row, base = self.row(name), self.row(baseline or self.baseline)
        if row is None or base is None or row.cpu_median is None or not base.cpu_median:
            return None
        if len(row.cpu) == len(base.cpu) and all(base.cpu):
            pairs = zip(row.cpu, base.cpu, strict=True)
            return statistics.median(a / b for a, b in pairs)
        return row.cpu_median / base.cpu_median


class WrongResponse(RuntimeError):
    pass


def check(body: bytes, expected: int, who: str) -> None:
    if len(body) != expected:
        raise WrongResponse(f"{who}: got {len(body)} bytes, expected {expected}")


Measured = tuple[float, float]  # (rate or time, CPU microseconds per operation)


def rate_loop(get: Callable[[], bytes], expected: int, who: str, max_count: int,
              budget: float) -> Measured:
    """Calls per second of ``get`` over at most ``max_count`` calls or ``budget`` seconds.

    Also returns this process's CPU time per call (µs): on a shared machine it moves far
    less than wall time with the neighbours' load, so it tells overhead from noise.
    """
    perf = time.perf_counter
    cpu0 = time.process_time()
    start = perf()
    deadline = start + budget
    n = 0
    while n < max_count:
        body = get()
        if len(body) != expected:
            check(body, expected, who)
        n += 1
        if perf() >= deadline:
            break
    elapsed = perf() - start
    return n / elapsed, 1e6 * (time.process_time() - cpu0) / n


def threaded_rate(get: Callable[[], bytes], expected: int, who: str, threads: int,
                  max_per_thread: int, budget: float) -> Measured:
    """Aggregate calls per second of ``threads`` threads calling ``get`` concurrently,
    and the process's CPU time per call (µs, all threads)."""
    counts = [0] * threads
    errors: list[BaseException] = []
    go = threading.Event()
    ready = threading.Barrier(threads + 1, timeout=30)
    deadline_box: list[float] = [0.0]

    def work(i: int) -> None:
        perf = time.perf_counter
        try:
            ready.wait()
            go.wait(30)
            deadline = deadline_box[0]
            n = 0
            while n < max_per_thread:
                check(get(), expected, who)
                n += 1
                if perf() >= deadline:
                    break
            counts[i] = n
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline_box[0] = start + budget
    go.set()
    for t in pool:
        t.join(timeout=budget + 60)
    elapsed = time.perf_counter() - start
    if any(t.is_alive() for t in pool):
        raise RuntimeError(f"{who}: a benchmark thread did not finish")
    if errors:
        raise errors[0]
    total = max(1, sum(counts))
    return total / elapsed, 1e6 * (time.process_time() - cpu0) / total


def rounds(names: Sequence[str], n_rounds: int,
           measure: Callable[[str], float]) -> dict[str, list[float]]:
    """Measure every name once per round, rotating the order each round."""
    out: dict[str, list[float]] = {name: [] for name in names}
    k = len(names)
    for r in range(n_rounds):
        order = [names[(r + i) % k] for i in range(k)] if k else []
        for name in order:
            out[name].append(measure(name))
    return out


def rounds2(names: Sequence[str], n_rounds: int, measure: Callable[[str], Measured],
            ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """As :func:`rounds` for measurements that also report CPU time: (values, cpu)."""
    cpu: dict[str, list[float]] = {name: [] for name in names}

    def one(name: str) -> float:
        value, spent = measure(name)
        cpu[name].append(spent)
        return value

    return rounds(names, n_rounds, one), cpu


def time_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
