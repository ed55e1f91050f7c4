"""Host name normalization: the one function every name passes through at the edge.

A name is either an IP address, returned in the canonical text form of
``ipaddress``, or a DNS name in lower-case A-label form (IDNA 2008, RFC 5891)
without its trailing dot. Text that looks numeric but is not a valid IP literal,
such as ``1.2.3`` or ``01.2.3.4``, is rejected rather than read either way,
because resolvers and ``inet_aton`` would read it as an address.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Iterable

import idna

from hostca.core.errors import InvalidRequestError

__all__ = [
    "MAX_LABEL_LENGTH",
    "MAX_NAME_LENGTH",
    "InvalidNameError",
    "is_ip_address",
    "normalize_name",
    "normalize_names",
    "split_names",
]

# RFC 1035 2.3.4 limits a label to 63 octets. A name of 253 characters, without
# its trailing dot, is the longest that fits the 255-octet wire form.
MAX_LABEL_LENGTH = 63
MAX_NAME_LENGTH = 253

_LDH_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-")
_DIGITS = frozenset(string.digits)
_HEX_DIGITS = frozenset(string.hexdigits)
_ACE_PREFIX = "xn--"
_SHOWN_LENGTH = 80

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidNameError(InvalidRequestError):
    """A host name that is neither a valid DNS name nor a valid IP address.

    ``details`` carries ``name`` (the raw input) and ``rule``, a stable key for
    the rule it breaks: ``empty``, ``wildcard``, ``ip_literal``, ``ip_zone``,
    ``empty_label``, ``invalid_character``, ``hyphen``, ``idna``,
    ``label_too_long``, ``name_too_long`` or ``numeric``.
    """

    default_code = "name_invalid"

    def __init__(self, raw: str, rule: str, problem: str) -> None:
        super().__init__(f"{_shown(raw)}: {problem}", details={"name": raw, "rule": rule})
        self.name = raw
        self.rule = rule


def normalize_name(raw: str) -> str:
    """Normalize a host name or IP literal, or raise InvalidNameError.

    Surrounding whitespace is stripped. An IPv4 or IPv6 literal, also an IPv6
    literal in brackets, comes back in ``ipaddress`` text form (IPv6 compressed,
    lower case). Anything else must be a DNS name. It is mapped with UTS 46, so
    upper case and full-width forms work, then lower-cased, and it loses one
    trailing dot. Each internationalized label becomes its A-label. Normalizing
    the result again returns it unchanged.
    """
    text = raw.strip()
    if not text:
        raise InvalidNameError(
            raw, "empty", "a host name must not be empty; give a DNS name or an IP address."
        )

    address = _parse_ip_literal(raw, text)
    if address is not None:
        return str(address)
    return _normalize_dns_name(raw, text)


def normalize_names(raws: Iterable[str]) -> list[str]:
    """Normalize each name and drop duplicates, keeping the first-seen order.

    The first invalid name raises InvalidNameError.
    """
    names: dict[str, None] = {}
    for raw in raws:
        names.setdefault(normalize_name(raw))
    return list(names)


def is_ip_address(name: str) -> bool:
    """Return whether a name that ``normalize_name`` returned is an IP address."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def split_names(names: Iterable[str]) -> tuple[list[str], list[IPAddress]]:
    """Split normalized names into DNS names and IP addresses, each in input order."""
    dns_names: list[str] = []
    addresses: list[IPAddress] = []
    for name in names:
        try:
            addresses.append(ipaddress.ip_address(name))
        except ValueError:
            dns_names.append(name)
    return dns_names, addresses


def _parse_ip_literal(raw: str, text: str) -> IPAddress | None:
    """Return the address that ``text`` spells, or None when it is no IP literal.

    Raises InvalidNameError for brackets around anything but an IPv6 address,
    and for an IPv6 zone ID.

    Since Python 3.9.5 ``ipaddress`` accepts only the strict dotted-quad form,
    without leading zeros or short forms. So ``01.2.3.4`` and ``1.2.3`` return
    None here and are rejected later as DNS names with a numeric last label.
    """
    bracketed = text.startswith("[") and text.endswith("]")
    literal = text[1:-1] if bracketed else text

    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        if bracketed:
            raise InvalidNameError(
                raw,
                "ip_literal",
                "the text in brackets is not a valid IPv6 address; "
                "write it as in [2001:db8::1] or leave the brackets out.",
            ) from None
        return None

    if bracketed and address.version != 6:
        raise InvalidNameError(
            raw, "ip_literal", "brackets enclose only IPv6 addresses; leave them out."
        )
    # A certificate's iPAddress SAN (RFC 5280 4.2.1.6) has no room for a scope.
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise InvalidNameError(
            raw,
            "ip_zone",
            f"an IPv6 zone ID (%{address.scope_id}) cannot go into a certificate; remove it.",
        )
    return address


def _normalize_dns_name(raw: str, text: str) -> str:
    mapped = text.lower() if text.isascii() else _map_uts46(raw, text)

    if "*" in mapped:
        raise InvalidNameError(
            raw, "wildcard", "wildcard names are not accepted; give each host name in full."
        )

    # One trailing dot marks a fully qualified name and carries no meaning here.
    if mapped.endswith("."):
        mapped = mapped[:-1]

    labels = [_normalize_label(raw, label) for label in mapped.split(".")]
    name = ".".join(labels)

    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            raw,
            "name_too_long",
            f"the name is {len(name)} characters long in ASCII form; "
            f"shorten it to at most {MAX_NAME_LENGTH}.",
        )
    if _is_numeric_label(labels[-1]):
        raise InvalidNameError(
            raw,
            "numeric",
            "not a valid IP address, and not a valid DNS name because its last label "
            "is numeric; write an IPv4 address as four numbers 0 to 255 without "
            "leading zeros.",
        )
    return name


def _map_uts46(raw: str, text: str) -> str:
    """Apply the UTS 46 mapping: case folding, NFC, and full-width and ideographic dots.

    STD3 rules stay off so that characters such as ``_`` pass through and
    ``_normalize_label`` names them in its message.
    """
    try:
        return idna.uts46_remap(text, std3_rules=False, transitional=False)
    except idna.IDNAError as error:
        raise InvalidNameError(
            raw,
            "idna",
            f"the name is not valid under UTS 46 ({error}); use letters, digits and hyphens.",
        ) from None


def _normalize_label(raw: str, label: str) -> str:
    """Return the ASCII form of one lower-case label, or raise InvalidNameError."""
    if not label:
        raise InvalidNameError(
            raw, "empty_label", "the name has an empty label; remove the extra dot."
        )

    for character in label:
        if character.isascii() and character not in _LDH_CHARACTERS:
            raise InvalidNameError(
                raw,
                "invalid_character",
                f"label {_quoted(label)} has an invalid character {character!r}; "
                "use letters, digits and hyphens.",
            )
    if label.startswith("-") or label.endswith("-"):
        raise InvalidNameError(
            raw,
            "hyphen",
            f"label {_quoted(label)} starts or ends with a hyphen; remove that hyphen.",
        )

    if not label.isascii():
        label = _to_a_label(raw, label)
    elif label.startswith(_ACE_PREFIX):
        _check_a_label(raw, label)

    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidNameError(
            raw,
            "label_too_long",
            f"label {_quoted(label)} is {len(label)} characters long in ASCII form; "
            f"shorten it to at most {MAX_LABEL_LENGTH}.",
        )
    return label


def _to_a_label(raw: str, u_label: str) -> str:
    """Return the A-label of a U-label after the IDNA 2008 checks (RFC 5891 4.2)."""
    try:
        idna.check_label(u_label)
    except idna.IDNAError as error:
        raise InvalidNameError(
            raw,
            "idna",
            f"label {_quoted(u_label)} is not valid under IDNA 2008 ({error}); "
            "replace that character or use ASCII letters, digits and hyphens.",
        ) from None
    return _ACE_PREFIX + u_label.encode("punycode").decode("ascii")


def _check_a_label(raw: str, a_label: str) -> None:
    """Raise unless an ``xn--`` label decodes to a valid U-label that encodes back to it."""
    try:
        u_label = idna.ulabel(a_label)
    except (idna.IDNAError, UnicodeError) as error:
        raise InvalidNameError(
            raw,
            "idna",
            f"label {_quoted(a_label)} is not a valid IDNA 2008 A-label ({error}); "
            "give the name in Unicode instead.",
        ) from None

    if _ACE_PREFIX + u_label.encode("punycode").decode("ascii") != a_label:
        raise InvalidNameError(
            raw,
            "idna",
            f"label {_quoted(a_label)} is not the canonical A-label of {u_label!r}; "
            "give the name in Unicode or in its canonical A-label form.",
        )


def _is_numeric_label(label: str) -> bool:
    """Return whether a label reads as a number: decimal digits, or ``0x`` and hex digits.

    A name whose last label is numeric is rejected, because ``inet_aton`` reads
    such short and hex forms as IPv4 addresses (``127.1`` and ``0x7f.1`` are
    both 127.0.0.1).
    """
    if all(digit in _DIGITS for digit in label):
        return True
    if label.startswith("0x"):
        return all(digit in _HEX_DIGITS for digit in label[2:])
    return False


def _shown(value: str) -> str:
    """Return a value for the start of a message, quoted when it would not read plainly."""
    if value and value.isprintable() and value == value.strip():
        return _cut(value)
    return _cut(repr(value))


def _quoted(value: str) -> str:
    """Return a value in quotes for the middle of a message."""
    return _cut(repr(value))


def _cut(text: str) -> str:
    if len(text) > _SHOWN_LENGTH:
        return text[: _SHOWN_LENGTH - 1] + "…"
    return text
