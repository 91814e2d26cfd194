"""Supply warnings before a job fails: blanks running low, ribbons short of the queue.

The same check feeds `printd status` (what is wrong now) and the daemon's
events to the registry and the technician (raised once when a warning starts,
not on every check).
"""

from __future__ import annotations

from dataclasses import dataclass

from printd.store import Store


@dataclass(frozen=True, slots=True)
class SupplyWarning:
    code: str
    message: str
    printer: str | None = None


def supply_warnings(store: Store, low_stock_threshold: int) -> list[SupplyWarning]:
    warnings = []
    on_hand = int(
        store.conn.execute(
            "SELECT count(*) FROM blanks WHERE state IN ('in_stock', 'loaded') AND job_id IS NULL"
        ).fetchone()[0]
    )
    queued = store.jobs.queued_by_priority()
    waiting = sum(queued.values())
    if on_hand < low_stock_threshold:
        warnings.append(
            SupplyWarning(
                "low_stock",
                f"{on_hand:,} blank(s) on hand, below the threshold of {low_stock_threshold:,}; "
                "ask for the next tranche",
            )
        )
    if waiting > on_hand:
        warnings.append(
            SupplyWarning(
                "blanks_short_of_queue",
                f"{waiting:,} job(s) queued but only {on_hand:,} blank(s) on hand",
            )
        )
    ribbons = store.conn.execute(
        "SELECT name, ribbon_left FROM printers WHERE ribbon_left IS NOT NULL AND mode = 'active'"
    ).fetchall()
    if ribbons and waiting:
        left = sum(int(row[1]) for row in ribbons)
        if left < waiting:
            warnings.append(
                SupplyWarning(
                    "ribbon_short_of_queue",
                    f"ribbons have {left:,} print(s) left for {waiting:,} queued job(s); "
                    "have a new ribbon ready",
                )
            )
    for name, left in ribbons:
        if int(left) <= 10:
            warnings.append(
                SupplyWarning("ribbon_low", f"{name}: {left} print(s) left on the ribbon", name)
            )
    return warnings
