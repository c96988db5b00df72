"""The TLS context of an HTTPS server, built once at start-up from the configuration."""

from __future__ import annotations

import ssl

from porch.config import Config
from porch.errors import ConfigError

__all__ = ["create_ssl_context"]


def create_ssl_context(config: Config) -> ssl.SSLContext | None:
    """The server's `ssl.SSLContext`, or None without ``ssl_certfile``.

    TLS 1.2 at least, the server's cipher order, no compression, ALPN ``http/1.1``; client
    certificates verified against ``ssl_ca_certs`` when it is set. An unreadable or
    mismatched certificate or key is a `ConfigError` now, not a failure at the first
    connection.
    """
    if config.ssl_certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_SINGLE_DH_USE | ssl.OP_SINGLE_ECDH_USE
    context.set_alpn_protocols(["http/1.1"])
    what = config.ssl_certfile
    if config.ssl_keyfile is not None:
        what += f" with the key {config.ssl_keyfile}"
    try:
        context.load_cert_chain(
            config.ssl_certfile, config.ssl_keyfile, _password(config.ssl_keyfile_password)
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        reason = _reason(exc)
        if isinstance(exc, ssl.SSLError) and exc.reason != "KEY_VALUES_MISMATCH":
            reason = _pem_problem(config) or reason
        raise ConfigError(f"cannot load the TLS certificate {what}: {reason}") from None
    if config.ssl_ciphers is not None:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise ConfigError(
                f"--ssl-ciphers {config.ssl_ciphers!r} selects no cipher OpenSSL knows"
            ) from None
    if config.ssl_ca_certs is not None:
        try:
            context.load_verify_locations(cafile=config.ssl_ca_certs)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the client CA certificates {config.ssl_ca_certs}: {_reason(exc)}"
            ) from None
        required = config.ssl_cert_reqs == "required"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def _password(password: str | None) -> str | None:
    # Without a password OpenSSL would prompt on the terminal for an encrypted key; a
    # callback that returns nothing makes that a clean error instead.
    return password if password is not None else ""


def _pem_problem(config: Config) -> str | None:
    """Say which file is wrong when OpenSSL only says "PEM lib"."""
    assert config.ssl_certfile is not None
    key_path = config.ssl_keyfile or config.ssl_certfile
    try:
        with open(config.ssl_certfile, "rb") as file:
            cert = file.read()
        with open(key_path, "rb") as file:
            key = file.read()
    except OSError:
        return None  # OpenSSL's own error names the file problem
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        return f"{config.ssl_certfile} holds no PEM certificate"
    if b"PRIVATE KEY-----" not in key:
        return f"{key_path} holds no PEM private key"
    if b"ENCRYPTED" in key:
        if config.ssl_keyfile_password is None:
            return "the private key is encrypted: give its password (--ssl-keyfile-password)"
        return "wrong password for the private key (--ssl-keyfile-password)"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.strerror or str(exc)
        if reason in ("KEY_VALUES_MISMATCH", "key values mismatch"):
            return "the private key does not match the certificate"
        if reason in ("BAD_DECRYPT", "bad decrypt"):
            return "wrong password for the private key (--ssl-keyfile-password)"
        return str(reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    return str(exc)
