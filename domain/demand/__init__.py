"""Demand intelligence (rules.md "Demand intelligence", ADR 0025).

- `signals`: every discover, auto-match and express buy records a search signal; a purchase
  that follows marks it `led_to_purchase`.
- `rollups`: the aggregation folds new signals into hourly rollups and per-pattern 24 h totals,
  and takes out what leaves the window.
- `figures`: derived figures per pattern (velocity, rates, gap) and spike announcements.
- `opportunities`: the top gaps as opportunities, expiring after 24 h.
- `views`: what the analytics routes read.
"""

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
WINDOW_HOURS = 24


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def window_start(until: datetime) -> datetime:
    """The first hour of the 24 h window that ends at `until` (its own hour is the last)."""
    return hour_of(until) - timedelta(hours=WINDOW_HOURS - 1)
