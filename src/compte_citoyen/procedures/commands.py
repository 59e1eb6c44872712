"""Procedure commands: purge-drafts."""
from __future__ import annotations

from ..cli import command

BATCH = 500


@command("purge-drafts", "remove the expired drafts of procedure forms (forms left half-way, old saved drafts)")
def purge_drafts_command(env, args) -> int:
    """Drafts expire (1 day, or 60 days once saved); the portal purges a few at each new draft, this purges all."""
    from .models import utcnow
    from .workflow import drafts
    total, now = 0, utcnow()
    while True:
        with env.transaction() as (_tm, portal):
            folder = drafts(portal)
            total += folder.purge(now, limit=BATCH)
            more = folder.has_expired(now)
        if not more:
            break
    print(f"{total} expired draft(s) removed")
    return 0
