"""The outbox: notices written in the same transaction as the event that causes them (``enqueue``), sent
later by ``app.notify``'s sender. A leaf every room may import: it knows tables, not channels."""
