"""A real OpenID provider for the tests: oidc-provider-mock on a free loopback port, in a thread of the test process.

It signs real ID tokens (RS256) with its own key, publishes discovery, JWKS, userinfo, refresh and end-session, and
lets a test set a person's claims (groups, active) and revoke their tokens. `Provider.forge()` stands in front of its
token endpoint for one exchange and hands the portal another token than the one issued (a wrong audience, an expired
one, a bad signature, a replay), signed with the provider's own key unless the signature is what is wrong, so that the
portal's verification is what has to refuse it. Its ID tokens name no key id (`kid`): the portal runs with
OIDC_VERIFY_KID off against it, as against any provider that does the same.
"""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import flask
import jwt
import oidc_provider_mock
import pytest
import requests
import werkzeug.serving
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts import provider as portal_provider

CLIENT_ID = "gpu-portal"
CLIENT_SECRET = "test-client-secret"
PROVIDER_NAME = "Example SSO"


class Provider:
    """The running provider; the WSGI application its server runs is this object, which watches token answers."""

    def __init__(self) -> None:
        self.app = oidc_provider_mock.app(require_nonce=True)
        with self.app.test_request_context():
            self.app.preprocess_request()  # the provider's before-request hook puts its storage, and key, on flask.g
            self.key = flask.g.oidc_provider_mock_storage.jwk.get_private_key()
        self.issued_id_tokens: list[str] = []
        self._forgery: Callable[[str], str] | None = None
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    # The WSGI application the server runs: the provider, with its key set and token answers watched.
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != "/oauth2/token":
            return self.app(environ, start_response)
        answer: dict = {}

        def keep(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(self.app(environ, keep))
        if answer["status"].startswith("200"):
            body = self._rewrite(json.loads(body))
        headers = [(name, value) for name, value in answer["headers"] if name.lower() != "content-length"]
        start_response(answer["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _rewrite(self, document: dict) -> bytes:
        if "id_token" in document:
            self.issued_id_tokens.append(document["id_token"])
            if self._forgery is not None:
                document["id_token"], self._forgery = self._forgery(document["id_token"]), None
        return json.dumps(document).encode()

    def start(self) -> "Provider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()

    def set_user(self, subject: str, **claims) -> None:
        """The person's claims from the next sign-in on (groups, email, preferred_username, active...)."""
        requests.put(f"{self.issuer}/users/{subject}", json=claims, timeout=5).raise_for_status()

    def revoke_tokens(self, subject: str) -> None:
        """What an administrator of the provider does to someone who left: their refresh tokens stop working."""
        requests.post(f"{self.issuer}/users/{subject}/revoke-tokens", timeout=5).raise_for_status()

    def authorize(self, authorization_url: str, subject: str) -> str:
        """The provider's sign-in page, submitted as `subject`: the callback URL it sends the browser back to."""
        response = requests.post(authorization_url, data={"sub": subject}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def forge(self, change: Callable[[str], str] | None) -> None:
        """The next ID token the token endpoint hands out is `change(the real one)`; None hands out the real one."""
        self._forgery = change

    def sign(self, claims: dict, *, key: rsa.RSAPrivateKey | None = None) -> str:
        """A token signed as the provider signs its own, or with another `key` (a bad signature)."""
        return jwt.encode(claims, key or self.key, algorithm="RS256")


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def now() -> int:
    return int(time.time())


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider speaks plain HTTP on the loopback
    running = Provider().start()
    yield running
    running.stop()


@pytest.fixture
def sso(settings, oidc_provider: Provider) -> Iterator[Provider]:
    """Single sign-on turned on against the test's provider, as the environment would turn it on."""
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_DISCOVERY_URL = f"{oidc_provider.issuer}/.well-known/openid-configuration"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_VERIFY_KID = False
    policy = settings.CONTENT_SECURITY_POLICY
    directives = {**policy["DIRECTIVES"], "form-action": [*policy["DIRECTIVES"]["form-action"], oidc_provider.issuer]}
    settings.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": directives}
    portal_provider.forget_document()
    yield oidc_provider
    oidc_provider.forge(None)
    portal_provider.forget_document()
