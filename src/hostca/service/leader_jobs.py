"""The periodic jobs that the elected leader runs, on one replica and worker at a time."""

from __future__ import annotations

from datetime import timedelta

from hostca.service.audit_log import append_event
from hostca.service.context import Actor, ServiceContext
from hostca.service.crl_service import PublishedCrl, refresh_crl
from hostca.store import host_records

__all__ = ["close_ended_auto_reissue_windows", "run_periodic_jobs"]

SERVER_ACTOR = Actor(name="hostca-server")


def run_periodic_jobs(context: ServiceContext, crl_max_age: timedelta) -> PublishedCrl | None:
    """Refresh the CRL once the newest is ``crl_max_age`` old, and close ended windows.

    Returns the CRL it published, if any. Each refresh also drops the certificates
    that expired since the last CRL. Tokens need no job: a token past its
    valid-until time is rejected at use and stays listed until 'hostca token cleanup'.
    """
    crl = refresh_crl(context, crl_max_age)
    close_ended_auto_reissue_windows(context)
    return crl


def close_ended_auto_reissue_windows(context: ServiceContext) -> list[str]:
    """Clear the auto-reissue windows that have ended, with an audit event each; return the host IDs."""
    now = context.clock()
    closed = []
    with context.database.transaction() as connection:
        for host in host_records.hosts_with_ended_auto_reissue(connection, now):
            if not host_records.close_auto_reissue_window(connection, host.host_id, now):
                continue  # another leader closed it first
            closed.append(str(host.host_id))
            append_event(
                connection,
                context,
                category="HOST",
                action="auto_reissue_expire",
                actor=SERVER_ACTOR,
                target=host.primary_name,
                host_id=host.host_id,
                details={"until": host.auto_reissue_until.isoformat()},
            )
    return closed
