"""Cache decay (schedule `cdn-decay`): every API process halves its hot tier's counters."""

from workflows.contracts import Activity, Workflow

CACHE_DECAY = Workflow[None, None]("CacheDecayWorkflow", None)

ANNOUNCE_DECAY = Activity[[], None](
    "content.announce_decay", None, "Ask every API process to decay its hot tier"
)
