"""The CA key in a hardware security module, reached through PKCS #11 (python-pkcs11).

cryptography's certificate and CRL builders accept any implementation of its
private key interfaces, ``EllipticCurvePrivateKey`` and ``RSAPrivateKey``, and call
the key's ``sign`` method with the to-be-signed bytes. ``Pkcs11EcPrivateKey`` and
``Pkcs11RsaPrivateKey`` implement those interfaces by signing in the token, so
``hostca.core`` builds and signs certificates and CRLs exactly as it does with a
key in memory. Each signature that the token returns is verified with the CA
public key before ``sign`` returns it, so no certificate or CRL leaves hostca with
a signature that the CA public key does not verify.

The private key stays in the token. A key that hostca generates there is
sensitive and non-extractable, and ``private_bytes`` and ``private_numbers``
raise ``CaKeyNotExportableError``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import pkcs11
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding, PKCS1v15
from cryptography.utils import Buffer
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from hostca.ca.pkcs11_uri import Pkcs11Uri
from hostca.core.errors import InvalidRequestError, NotFoundError, UnavailableError
from hostca.core.keys import (
    CA_KEY_TYPES,
    RSA_PUBLIC_EXPONENT,
    KeyTypeRejectedError,
    check_ca_private_key,
)

__all__ = [
    "CaKeyNotExportableError",
    "OpenedCaKey",
    "Pkcs11EcPrivateKey",
    "Pkcs11KeyNotFoundError",
    "Pkcs11KeyUnusableError",
    "Pkcs11Login",
    "Pkcs11ModuleError",
    "Pkcs11PinInvalidError",
    "Pkcs11RsaPrivateKey",
    "Pkcs11SigningError",
    "Pkcs11TokenNotFoundError",
    "open_ca_key",
    "open_or_generate_ca_key",
]

# RFC 8017 section 9.2, note 1: the DER prefix of the DigestInfo that PKCS #1 v1.5
# signs, per hash algorithm. CKM_RSA_PKCS pads and signs a DigestInfo given whole.
_DIGEST_INFO_PREFIXES = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}
_RSA_BITS = {"rsa-3072": 3072, "rsa-4096": 4096}
_KEY_CHECK_MESSAGE = b"hostca: check that the CA key in the token signs"


class Pkcs11ModuleError(UnavailableError):
    """A PKCS #11 module that is not configured, not found or cannot be loaded."""

    default_code = "pkcs11_module_unavailable"


class Pkcs11TokenNotFoundError(NotFoundError):
    """No token, or more than one, has the label that the URI names."""

    default_code = "pkcs11_token_not_found"


class Pkcs11KeyNotFoundError(NotFoundError):
    """The token has no private key with the label and ID that the URI names."""

    default_code = "pkcs11_key_not_found"


class Pkcs11PinInvalidError(UnavailableError):
    """The user PIN is wrong, locked or not set, so the token refuses the login."""

    default_code = "pkcs11_pin_invalid"


class Pkcs11KeyUnusableError(UnavailableError):
    """A key object in the token that hostca cannot sign with as the CA."""

    default_code = "pkcs11_key_unusable"


class Pkcs11SigningError(UnavailableError):
    """The token failed to sign, or returned a signature that does not verify."""

    default_code = "pkcs11_signing_failed"


class CaKeyNotExportableError(InvalidRequestError):
    """An attempt to read, serialize or use for decryption a CA key that lives in a token."""

    default_code = "ca_key_not_exportable"


@dataclass(frozen=True)
class Pkcs11Login:
    """How to reach the token: the configured PKCS #11 module and the user PIN.

    ``module_path`` comes from ``HOSTCA_PKCS11_MODULE`` or the SoftHSM2 default.
    The URI's ``module-path`` attribute takes precedence over it. ``pin_file`` is
    where the PIN was read from, named in messages.
    """

    module_path: Path | None
    pin: bytes = field(repr=False)
    pin_file: Path | None = None


@dataclass(frozen=True)
class OpenedCaKey:
    """A CA key in a token, and whether ``open_or_generate_ca_key`` generated it."""

    private_key: Pkcs11EcPrivateKey | Pkcs11RsaPrivateKey
    generated: bool
    extractable: bool


def open_ca_key(uri: Pkcs11Uri, login: Pkcs11Login) -> Pkcs11EcPrivateKey | Pkcs11RsaPrivateKey:
    """Log in to the token and return the existing CA key that ``uri`` names.

    The key signs a test message, verified with its public key, before it is
    returned. Raises ``Pkcs11ModuleError``, ``Pkcs11TokenNotFoundError``,
    ``Pkcs11PinInvalidError``, ``Pkcs11KeyNotFoundError`` or ``Pkcs11KeyUnusableError``.
    """
    token_session = _TokenSession.open(uri, login, read_write=False)
    private_object = _find_private_key(token_session, uri)
    if private_object is None:
        token_session.close()
        raise _key_not_found(token_session, uri)
    return _wrap_key(token_session, private_object)


def open_or_generate_ca_key(uri: Pkcs11Uri, login: Pkcs11Login, key_type: str) -> OpenedCaKey:
    """Return the CA key that ``uri`` names, generating it in the token when it is missing.

    A generated key pair has the label and, if given, the ID of ``uri``. Its
    private key is sensitive and non-extractable. ``key_type`` is one of
    ``CA_KEY_TYPES`` and applies only to a generated key. Raises the errors of
    ``open_ca_key`` and ``KeyTypeRejectedError``.
    """
    if key_type not in CA_KEY_TYPES:
        raise KeyTypeRejectedError(
            f"{key_type!r}: not a CA key type; use one of {', '.join(CA_KEY_TYPES)}.",
            details={"key_type": key_type, "accepted": list(CA_KEY_TYPES)},
        )
    token_session = _TokenSession.open(uri, login, read_write=True)
    private_object = _find_private_key(token_session, uri)
    generated = private_object is None
    if private_object is None:
        private_object = _generate_key_pair(token_session, uri, key_type)
    key = _wrap_key(token_session, private_object)
    return OpenedCaKey(
        private_key=key,
        generated=generated,
        extractable=bool(private_object[Attribute.EXTRACTABLE]),
    )


class _TokenSession:
    """One logged-in session with the token, used by one thread at a time.

    A PKCS #11 session must not run two operations at once, and the server signs
    from request threads and from its CRL thread, so every call takes the lock.
    """

    def __init__(self, session: pkcs11.Session, location: str) -> None:
        self.session = session
        self.location = location
        self._lock = threading.Lock()

    @classmethod
    def open(cls, uri: Pkcs11Uri, login: Pkcs11Login, *, read_write: bool) -> _TokenSession:
        module_path = _module_path(uri, login)
        library = _load_module(module_path)
        token = _find_token(library, module_path, uri)
        session = _log_in(token, login, read_write=read_write)
        return cls(session, f"{uri.describe()} (PKCS #11 module {module_path})")

    def sign(self, private_object: pkcs11.PrivateKey, mechanism: Mechanism, data: bytes) -> bytes:
        with self._lock:
            try:
                # Every concrete private key class of python-pkcs11 mixes in SignMixin.
                signer = cast(pkcs11.SignMixin, private_object)
                return signer.sign(data, mechanism=mechanism)
            except pkcs11.PKCS11Error as error:
                # NOTE: a lost session (the HSM restarted or was unplugged) is not
                # reopened here. Signing fails until the server is restarted.
                raise Pkcs11SigningError(
                    f"{self.location}: signing in the token failed ({_describe(error)}); "
                    "check that the HSM is reachable and the key may sign, then restart the "
                    "server.",
                    details={"location": self.location},
                ) from error

    def close(self) -> None:
        with self._lock:
            self.session.close()


class Pkcs11EcPrivateKey(ec.EllipticCurvePrivateKey):
    """An EC CA key in a token: signs with CKM_ECDSA over a digest computed here."""

    def __init__(
        self,
        token_session: _TokenSession,
        private_object: pkcs11.PrivateKey,
        public_key: ec.EllipticCurvePublicKey,
    ) -> None:
        self._token_session = token_session
        self._private_object = private_object
        self._public_key = public_key

    @property
    def location(self) -> str:
        """The token, object and module of this key, for messages."""
        return self._token_session.location

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError(f"{signature_algorithm!r}: the CA key signs with ECDSA only")
        if not isinstance(signature_algorithm.algorithm, hashes.HashAlgorithm):
            raise TypeError(f"{signature_algorithm.algorithm!r}: the CA key hashes the data itself")
        message = bytes(data)
        digest = _digest(message, signature_algorithm.algorithm)

        # CKM_ECDSA returns r and s concatenated, as big-endian integers of equal
        # length. X.509 needs them as a DER Ecdsa-Sig-Value.
        raw = self._token_session.sign(self._private_object, Mechanism.ECDSA, digest)
        half = len(raw) // 2
        signature = asym_utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

        try:
            self._public_key.verify(signature, message, signature_algorithm)
        except InvalidSignature:
            raise _signature_mismatch(self.location) from None
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def close(self) -> None:
        """Close the session with the token. The key cannot sign afterwards."""
        self._token_session.close()

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        _reject_operation(self.location, "key agreement")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _reject_operation(self.location, "reading the private value")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _reject_operation(self.location, "serializing the private key")

    def __copy__(self) -> Pkcs11EcPrivateKey:
        # The object is a handle to the key in the token, which cannot be copied.
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pkcs11EcPrivateKey:
        return self


class Pkcs11RsaPrivateKey(rsa.RSAPrivateKey):
    """An RSA CA key in a token: signs PKCS #1 v1.5 with CKM_RSA_PKCS over a DigestInfo."""

    def __init__(
        self,
        token_session: _TokenSession,
        private_object: pkcs11.PrivateKey,
        public_key: rsa.RSAPublicKey,
    ) -> None:
        self._token_session = token_session
        self._private_object = private_object
        self._public_key = public_key

    @property
    def location(self) -> str:
        """The token, object and module of this key, for messages."""
        return self._token_session.location

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: asym_utils.Prehashed | hashes.HashAlgorithm | asym_utils.NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, PKCS1v15):
            raise TypeError(f"{padding!r}: the CA key signs with PKCS #1 v1.5 padding only")
        if not isinstance(algorithm, hashes.HashAlgorithm):
            raise TypeError(f"{algorithm!r}: the CA key hashes the data itself")
        message = bytes(data)
        digest_info = _DIGEST_INFO_PREFIXES[_hash_name(algorithm)] + _digest(message, algorithm)

        signature = self._token_session.sign(self._private_object, Mechanism.RSA_PKCS, digest_info)

        try:
            self._public_key.verify(signature, message, padding, algorithm)
        except InvalidSignature:
            raise _signature_mismatch(self.location) from None
        return signature

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def close(self) -> None:
        """Close the session with the token. The key cannot sign afterwards."""
        self._token_session.close()

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        _reject_operation(self.location, "decryption")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _reject_operation(self.location, "reading the private numbers")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _reject_operation(self.location, "serializing the private key")

    def __copy__(self) -> Pkcs11RsaPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pkcs11RsaPrivateKey:
        return self


# Reaching the token


def _module_path(uri: Pkcs11Uri, login: Pkcs11Login) -> Path:
    module_path = uri.module_path or login.module_path
    if module_path is None:
        raise Pkcs11ModuleError(
            f"{uri.text}: no PKCS #11 module is configured; give module-path= in the URI or set "
            "HOSTCA_PKCS11_MODULE to the HSM's PKCS #11 library (for SoftHSM2, install the "
            "softhsm2 package).",
            details={"uri": uri.text},
        )
    return module_path


def _load_module(module_path: Path) -> Any:
    if not module_path.is_file():
        raise Pkcs11ModuleError(
            f"{module_path}: PKCS #11 module not found; install the HSM's PKCS #11 library, or "
            "give its path with module-path= in the URI or HOSTCA_PKCS11_MODULE.",
            details={"module_path": str(module_path)},
        )
    try:
        return pkcs11.lib(str(module_path))
    except pkcs11.PKCS11Error as error:
        raise Pkcs11ModuleError(
            f"{module_path}: PKCS #11 module cannot be loaded or initialized "
            f"({_describe(error)}); check that the file is a PKCS #11 library and that its "
            "configuration is readable (for SoftHSM2, the file that SOFTHSM2_CONF names).",
            details={"module_path": str(module_path)},
        ) from error


def _find_token(library: Any, module_path: Path, uri: Pkcs11Uri) -> pkcs11.Token:
    try:
        tokens: list[pkcs11.Token] = list(library.get_tokens())
    except pkcs11.PKCS11Error as error:
        raise Pkcs11ModuleError(
            f"{module_path}: cannot list the tokens ({_describe(error)}); check the HSM and "
            "its PKCS #11 configuration.",
            details={"module_path": str(module_path)},
        ) from error

    matches = [
        token
        for token in tokens
        if token.label == uri.token
        and (uri.token_serial is None or _token_serial(token) == uri.token_serial)
    ]
    if len(matches) == 1:
        return matches[0]

    # A slot that SoftHSM2 keeps free for the next token shows an empty label.
    labels = ", ".join(repr(token.label) for token in tokens if token.label) or "none"
    if not matches:
        raise Pkcs11TokenNotFoundError(
            f"token {uri.token!r} not found in PKCS #11 module {module_path} (tokens there: "
            f"{labels}); check token= in --ca-key-uri, or initialize the token first (for "
            "SoftHSM2: softhsm2-util --init-token --free --label LABEL).",
            details={"token": uri.token, "module_path": str(module_path)},
        )
    raise Pkcs11TokenNotFoundError(
        f"token {uri.token!r}: {len(matches)} tokens in PKCS #11 module {module_path} have "
        "this label; add serial= to --ca-key-uri to choose one.",
        details={"token": uri.token, "module_path": str(module_path)},
    )


def _token_serial(token: pkcs11.Token) -> str:
    return token.serial.decode("ascii", errors="replace").strip()


def _log_in(token: pkcs11.Token, login: Pkcs11Login, *, read_write: bool) -> pkcs11.Session:
    source = f"from {login.pin_file}" if login.pin_file else "given"
    try:
        pin = login.pin.decode("utf-8")
    except UnicodeDecodeError:
        raise Pkcs11PinInvalidError(
            f"token {token.label!r}: the user PIN {source} is not UTF-8 text; put the token's "
            "user PIN into the PIN file.",
            details={"token": token.label},
        ) from None

    try:
        return token.open(rw=read_write, user_pin=pin)
    except pkcs11.UserAlreadyLoggedIn:
        # Login state belongs to the process, not the session. Another session of
        # this process has logged in already, so this one may sign too.
        return token.open(rw=read_write)
    except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as error:
        raise Pkcs11PinInvalidError(
            f"token {token.label!r}: the user PIN {source} is wrong; put the token's user PIN "
            "into the PIN file (--ca-pin-file or HOSTCA_CA_PIN_FILE) and try again.",
            details={"token": token.label},
        ) from error
    except pkcs11.PinLocked as error:
        raise Pkcs11PinInvalidError(
            f"token {token.label!r}: the user PIN is locked after too many wrong attempts; "
            "unlock it with the security officer PIN, then try again.",
            details={"token": token.label},
        ) from error
    except pkcs11.UserPinNotInitialized as error:
        raise Pkcs11PinInvalidError(
            f"token {token.label!r}: no user PIN is set; set one with the security officer "
            "PIN (for SoftHSM2: softhsm2-util --init-pin), then try again.",
            details={"token": token.label},
        ) from error
    except pkcs11.PKCS11Error as error:
        raise Pkcs11ModuleError(
            f"token {token.label!r}: opening a session failed ({_describe(error)}); check the "
            "HSM, then try again.",
            details={"token": token.label},
        ) from error


# Finding, generating and wrapping the key


def _find_private_key(token_session: _TokenSession, uri: Pkcs11Uri) -> pkcs11.PrivateKey | None:
    template: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.LABEL: uri.object_label,
    }
    if uri.object_id is not None:
        template[Attribute.ID] = uri.object_id
    found = list(token_session.session.get_objects(template))
    if len(found) > 1:
        raise Pkcs11KeyUnusableError(
            f"{token_session.location}: {len(found)} private keys have this label; add id= to "
            "--ca-key-uri to choose one.",
            details={"location": token_session.location},
        )
    if not found:
        return None
    private_object: pkcs11.PrivateKey = found[0]  # type: ignore[assignment]
    return private_object


def _key_not_found(token_session: _TokenSession, uri: Pkcs11Uri) -> Pkcs11KeyNotFoundError:
    match = "this label and ID" if uri.object_id is not None else "this label"
    return Pkcs11KeyNotFoundError(
        f"{token_session.location}: no private key with {match} in the token; check object= "
        "and id= in the URI, or run 'hostca server init --ca-key-uri' to generate the key.",
        details={"location": token_session.location},
    )


def _generate_key_pair(
    token_session: _TokenSession, uri: Pkcs11Uri, key_type: str
) -> pkcs11.PrivateKey:
    # CKA_ID ties the two halves together, so the public key is found even when
    # another object shares the label.
    key_id = uri.object_id if uri.object_id is not None else secrets.token_bytes(16)
    options: dict[str, Any] = {
        "store": True,
        "label": uri.object_label,
        "id": key_id,
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "public_template": {Attribute.TOKEN: True, Attribute.VERIFY: True},
        "private_template": {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SIGN: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        },
    }
    session = token_session.session
    try:
        if key_type in _CURVES:
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[key_type])},
                local=True,
            )
            _, private_object = parameters.generate_keypair(**options)
        else:
            options["public_template"][Attribute.PUBLIC_EXPONENT] = RSA_PUBLIC_EXPONENT.to_bytes(
                3, "big"
            )
            _, private_object = session.generate_keypair(
                KeyType.RSA, _RSA_BITS[key_type], **options
            )
    except pkcs11.PKCS11Error as error:
        raise Pkcs11KeyUnusableError(
            f"{token_session.location}: generating a {key_type} key pair in the token failed "
            f"({_describe(error)}); check that the token supports this key type and has "
            "room, or create the key with the HSM's own tools.",
            details={"location": token_session.location, "key_type": key_type},
        ) from error
    return private_object


def _wrap_key(
    token_session: _TokenSession, private_object: pkcs11.PrivateKey
) -> Pkcs11EcPrivateKey | Pkcs11RsaPrivateKey:
    public_key = _load_public_key(token_session, private_object)
    key: Pkcs11EcPrivateKey | Pkcs11RsaPrivateKey
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        key = Pkcs11EcPrivateKey(token_session, private_object, public_key)
        check_ca_private_key(key)
        key.sign(_KEY_CHECK_MESSAGE, ec.ECDSA(hashes.SHA256()))
    else:
        key = Pkcs11RsaPrivateKey(token_session, private_object, public_key)
        check_ca_private_key(key)
        key.sign(_KEY_CHECK_MESSAGE, PKCS1v15(), hashes.SHA256())
    return key


def _load_public_key(
    token_session: _TokenSession, private_object: pkcs11.PrivateKey
) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    key_type = private_object.key_type
    public_object = _find_public_key(token_session, private_object)
    if key_type == KeyType.RSA:
        # An RSA private key object carries the modulus and public exponent.
        source = public_object if public_object is not None else private_object
        numbers = rsa.RSAPublicNumbers(
            e=int.from_bytes(source[Attribute.PUBLIC_EXPONENT], "big"),
            n=int.from_bytes(source[Attribute.MODULUS], "big"),
        )
        return numbers.public_key()
    if key_type != KeyType.EC:
        raise Pkcs11KeyUnusableError(
            f"{token_session.location}: a {key_type.name} key cannot sign as the CA; use an EC "
            "P-256, EC P-384 or RSA key.",
            details={"location": token_session.location},
        )
    if public_object is None:
        raise Pkcs11KeyUnusableError(
            f"{token_session.location}: the token has no EC public key object with the "
            "private key's label and ID, so hostca cannot tell the public key; store the "
            "public key in the token beside the private key.",
            details={"location": token_session.location},
        )
    public_key = serialization.load_der_public_key(encode_ec_public_key(public_object))
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise Pkcs11KeyUnusableError(
            f"{token_session.location}: the public key object is not an EC key; store the "
            "matching public key in the token.",
            details={"location": token_session.location},
        )
    return public_key


def _find_public_key(
    token_session: _TokenSession, private_object: pkcs11.PrivateKey
) -> pkcs11.PublicKey | None:
    template: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.LABEL: private_object.label,
    }
    key_id = private_object[Attribute.ID]
    if key_id:
        template[Attribute.ID] = key_id
    found = list(token_session.session.get_objects(template))
    if len(found) != 1:
        return None
    public_object: pkcs11.PublicKey = found[0]  # type: ignore[assignment]
    return public_object


# Small helpers


def _digest(message: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    _hash_name(algorithm)
    digest = hashes.Hash(algorithm)
    digest.update(message)
    return digest.finalize()


def _hash_name(algorithm: hashes.HashAlgorithm) -> str:
    if algorithm.name not in _DIGEST_INFO_PREFIXES:
        raise TypeError(f"{algorithm.name}: the CA key signs with SHA-256, SHA-384 or SHA-512")
    return algorithm.name


def _signature_mismatch(location: str) -> Pkcs11SigningError:
    return Pkcs11SigningError(
        f"{location}: the token returned a signature that the CA public key does not "
        "verify; check that the private and public key objects belong together.",
        details={"location": location},
    )


def _reject_operation(location: str, operation: str) -> NoReturn:
    raise CaKeyNotExportableError(
        f"{location}: the CA key lives in the token, which allows signing only, not {operation}.",
        details={"location": location},
    )


def _describe(error: pkcs11.PKCS11Error) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
