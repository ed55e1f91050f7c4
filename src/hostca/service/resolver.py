"""Forward name resolution for the medium security level.

The resolver reads an optional hosts file first (``HOSTCA_HOSTS_FILE``, in the
/etc/hosts format), then queries the system resolver. Tests point the hosts file at
names of their own, so they never depend on real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from hostca.core.names import normalize_name

__all__ = ["NameResolver"]


class NameResolver:
    """Resolve a DNS name to the set of its IP addresses."""

    def __init__(self, hosts_file: Path | None = None, *, use_system: bool = True) -> None:
        self.hosts_file = hosts_file
        self.use_system = use_system

    def _from_hosts_file(self, name: str) -> set[str]:
        if self.hosts_file is None or not self.hosts_file.exists():
            return set()
        addresses = set()
        for line in self.hosts_file.read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            try:
                address = str(ipaddress.ip_address(fields[0]))
            except ValueError:
                continue
            if any(_same_name(alias, name) for alias in fields[1:]):
                addresses.add(address)
        return addresses

    def resolve(self, name: str) -> set[str]:
        addresses = self._from_hosts_file(name)
        if addresses or not self.use_system:
            return addresses
        try:
            results = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return set()
        return {str(ipaddress.ip_address(str(result[4][0]).split("%", 1)[0])) for result in results}

    def resolves_to(self, name: str, source_ip: str | None) -> tuple[bool, tuple[str, ...]]:
        """Return whether ``name`` resolves to ``source_ip``, and the addresses it resolves to."""
        addresses = self.resolve(name)
        if source_ip is None:
            return False, tuple(sorted(addresses))
        source = str(ipaddress.ip_address(source_ip))
        # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        mapped = ipaddress.ip_address(source)
        if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
            source = str(mapped.ipv4_mapped)
        return source in addresses, tuple(sorted(addresses))


def _same_name(alias: str, name: str) -> bool:
    try:
        return normalize_name(alias) == name
    except ValueError:
        return False
