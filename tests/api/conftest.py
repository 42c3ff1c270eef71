"""The people of the seed's world as API clients: by session, and by API token."""

import pytest
from rest_framework.test import APIClient

from accounts.actions import create_api_token, revoke_api_token
from teams.models import Request
from tests.requests import ask_for_namespace


class Clients:
    """An API client per persona of the permission matrix."""

    def __init__(self, world) -> None:
        self.world = world
        self.anonymous = APIClient()
        self.member = self._session(world.research_member)
        self.lead_a = self._session(world.research_lead)
        self.lead_b = self._session(world.platform_lead)
        self.finance = self._session(world.finance)
        self.approver = self._session(world.approver)
        self.token_read_only = self._token(world.approver, read_only=True)
        self.token_read_write = self._token(world.research_lead, read_only=False)
        self.token_revoked = self._token(world.approver, read_only=False, revoked=True)

    def __getitem__(self, persona: str) -> APIClient:
        return getattr(self, persona)

    def _session(self, user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    def _token(self, user, *, read_only: bool, revoked: bool = False) -> APIClient:
        token, key = create_api_token(user=user, name="test", read_only=read_only, expires_at=None)
        if revoked:
            revoke_api_token(token, actor=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client


@pytest.fixture
def clients(world) -> Clients:
    return Clients(world)


@pytest.fixture
def pending_request(world) -> Request:
    return ask_for_namespace(world)
