"""Fixtures shared by every test folder: the seed's world and its people."""

import pytest
from django.contrib.auth import get_user_model

from teams.demo import seed_demo
from teams.models import Team, TeamNamespace


class World:
    """The seed_demo world, with short names for what tests reach for."""

    def __init__(self) -> None:
        users = get_user_model().objects
        self.research = Team.objects.get(slug="research")
        self.platform = Team.objects.get(slug="platform")
        self.data_science = Team.objects.get(slug="data-science")
        self.research_lead = users.get(username="research-lead")
        self.research_member = users.get(username="research-member")
        self.platform_lead = users.get(username="platform-lead")
        self.approver = users.get(username="approver")
        self.finance = users.get(username="finance")

    def namespace(self, name: str) -> TeamNamespace:
        return TeamNamespace.objects.select_related("team", "tier").get(name=name)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Demo users are created in most tests; real hashing would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> World:
    seed_demo()
    return World()


@pytest.fixture
def second_approver(world):
    user = get_user_model().objects.create_user("approver-2", password="x", is_staff=True)
    user.groups.add(world.approver.groups.get())
    return user
