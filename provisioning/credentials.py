"""Uploaded kubeconfigs, encrypted at rest with Fernet under keys from CLUSTER_CREDENTIALS_KEY.

The database holds only the Fernet token: a dump, a backup or a read-only admin never shows a
cluster's credentials. The first key encrypts and every key decrypts (MultiFernet), so keys rotate
without downtime: add the new key first, run `manage.py rotate_cluster_credentials`, drop the old.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING = "CLUSTER_CREDENTIALS_KEY"


class CredentialsError(Exception):
    """Credentials cannot be encrypted or decrypted with the configured keys; the message names the setting."""


def _keys() -> MultiFernet:
    keys = settings.CLUSTER_CREDENTIALS_KEY
    if not keys:
        raise CredentialsError(
            f"{SETTING} is not set, so the portal cannot store an uploaded kubeconfig encrypted. Set it to a key "
            "from `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`, "
            "or give the kubeconfig's path on the portal's machines instead."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(f"{SETTING} must hold Fernet keys (32 url-safe base64-encoded bytes).") from None


def check_configured() -> None:
    """Refuse before anything is stored when no key is configured."""
    _keys()


def encrypt(text: str) -> str:
    return _keys().encrypt(text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise CredentialsError(
            f"None of the keys in {SETTING} decrypts this cluster's kubeconfig: the key it was stored with is "
            "missing. Put that key back in the setting, or upload the kubeconfig again."
        ) from None


def rotate(token: str) -> str:
    """The same credentials encrypted under the first key (MultiFernet.rotate)."""
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise CredentialsError(f"None of the keys in {SETTING} decrypts this cluster's kubeconfig.") from None
