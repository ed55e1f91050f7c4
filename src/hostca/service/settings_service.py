"""Read and change domain settings; every change is a SEC_CONFIG audit event."""

from __future__ import annotations

from typing import Any

from hostca.core.errors import HostcaError
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.domain_settings import load_domain_settings, parse_setting_value
from hostca.store import setting_records

__all__ = ["change_setting", "read_settings"]


def read_settings(context: ServiceContext) -> dict[str, Any]:
    with context.database.engine.connect() as connection:
        return load_domain_settings(connection).as_dict()


def change_setting(context: ServiceContext, actor: Actor, key: str, value: str) -> dict[str, Any]:
    try:
        name, typed = parse_setting_value(key, value)
        with context.database.transaction() as connection:
            old = load_domain_settings(connection).as_dict()[name]
            setting_records.write_setting(connection, name, typed, context.clock())
            append_event(
                connection,
                context,
                category="SEC_CONFIG",
                action="setting_change",
                actor=actor,
                target=name,
                details={"old": old, "new": typed},
            )
            return load_domain_settings(connection).as_dict()
    except HostcaError as error:
        # The same target as a successful change, whichever spelling of the key was given.
        target = key.strip().lower().replace("-", "_")
        record_failure(
            context,
            error,
            category="SEC_CONFIG",
            action="setting_change",
            actor=actor,
            target=target,
        )
        raise
