"""PKCS #11 URIs (RFC 7512) that name the CA key in a hardware security module.

hostca reads the attributes it needs to find one private key: the token label,
the object label, and optionally the object ID, the object type and the token
serial number. The query attribute ``module-path`` names the PKCS #11 library.
The PIN never goes into the URI, because the URI is stored in ``server.json`` and
shown in messages. It comes from a PIN file instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

from hostca.core.errors import InvalidRequestError

__all__ = ["Pkcs11Uri", "Pkcs11UriInvalidError", "parse_pkcs11_uri"]

_SCHEME = "pkcs11:"
_PATH_ATTRIBUTES = frozenset({"token", "object", "id", "type", "serial"})
_QUERY_ATTRIBUTES = frozenset({"module-path"})
_PIN_ATTRIBUTES = frozenset({"pin-value", "pin-source"})


class Pkcs11UriInvalidError(InvalidRequestError):
    """A PKCS #11 URI that is malformed or that hostca cannot use to find the CA key."""

    default_code = "pkcs11_uri_invalid"


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of a PKCS #11 URI that locate the CA key.

    ``text`` is the URI as given. ``object_id`` is the CKA_ID of the key,
    ``token_serial`` the token's serial number, and ``module_path`` the PKCS #11
    library from the ``module-path`` query attribute.
    """

    text: str
    token: str
    object_label: str
    object_id: bytes | None = None
    token_serial: str | None = None
    module_path: Path | None = None

    def describe(self) -> str:
        """Return the token and object for messages, such as ``token 'ca', object 'root'``."""
        return f"token {self.token!r}, object {self.object_label!r}"


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 PKCS #11 URI that names one private key.

    ``token`` and ``object`` are required. ``type``, when present, must be
    ``private``. Raises ``Pkcs11UriInvalidError`` naming the bad part for anything
    else, including a PIN in the URI and attributes that hostca does not use.
    """
    if not text.lower().startswith(_SCHEME):
        raise _invalid(text, "it does not start with 'pkcs11:'")
    path_part, _, query_part = text[len(_SCHEME) :].partition("?")

    # RFC 7512 section 2.3: path attributes are separated by ";" and query
    # attributes by "&", and each value is percent-encoded.
    path = _attributes(text, path_part, ";", _PATH_ATTRIBUTES)
    query = _attributes(text, query_part, "&", _QUERY_ATTRIBUTES)

    object_type = _text_value(text, path, "type")
    if object_type is not None and object_type != "private":
        raise _invalid(text, f"type={object_type} does not name a private key; use type=private")
    token = _text_value(text, path, "token")
    object_label = _text_value(text, path, "object")
    if not token or not object_label:
        raise _invalid(text, "token= and object= are both required to find the CA key")
    module_path = _text_value(text, query, "module-path")
    return Pkcs11Uri(
        text=text,
        token=token,
        object_label=object_label,
        object_id=path.get("id"),
        token_serial=_text_value(text, path, "serial"),
        module_path=Path(module_path) if module_path else None,
    )


def _attributes(uri: str, part: str, separator: str, known: frozenset[str]) -> dict[str, bytes]:
    attributes: dict[str, bytes] = {}
    for item in part.split(separator) if part else []:
        name, equals, value = item.partition("=")
        name = name.lower()
        if not equals:
            raise _invalid(uri, f"{item!r} is not of the form name=value")
        if name in _PIN_ATTRIBUTES:
            # The URI is left out of this message, because it contains the PIN.
            raise Pkcs11UriInvalidError(
                f"PKCS #11 URI of the CA key: {name} would put the PIN into the URI, which "
                "hostca stores and shows; remove it and give the PIN with --ca-pin-file or "
                "HOSTCA_CA_PIN_FILE."
            )
        if name not in known:
            raise _invalid(
                uri,
                f"attribute {name!r} is not supported here; use only {', '.join(sorted(known))}",
            )
        if name in attributes:
            raise _invalid(uri, f"attribute {name!r} appears twice")
        attributes[name] = unquote_to_bytes(value)
    return attributes


def _text_value(uri: str, attributes: dict[str, bytes], name: str) -> str | None:
    value = attributes.get(name)
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(uri, f"the value of {name} is not UTF-8 text") from None


def _invalid(uri: str, problem: str) -> Pkcs11UriInvalidError:
    return Pkcs11UriInvalidError(
        f"{uri!r}: not a usable PKCS #11 URI of the CA key: {problem}. "
        "Write it as 'pkcs11:token=LABEL;object=LABEL', optionally with ?module-path=FILE.",
        details={"uri": uri},
    )
