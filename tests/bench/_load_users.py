"""The simulated people of the load benchmark: a locustfile, run by `locust` in a process of its own.

bench_load.py writes a plan (LOAD_PLAN, JSON: the sessions, tokens, namespaces and form fields
of the bench users) and reads back every request's time (LOAD_TIMINGS), which this file writes
when locust quits. Only requests that started LOAD_WARMUP seconds after every user was spawned
count: neither the ramp-up nor each gunicorn worker's first pages (templates compiled, database
connected) are the steady state. Each simulated person is one bench user, signed in by the session
cookie the benchmark made for them (or, for finance, an API token), and waits between actions
as a person reads a page.
"""

import json
import os
import random
import re
import time
from collections import defaultdict
from itertools import count

from locust import FastHttpUser, between, events, task

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: SIM115  locust imports this file once
THINK = tuple(PLAN["think_seconds"])
WARMUP = float(os.environ.get("LOAD_WARMUP", "0"))
STATIC = PLAN["static_path"]
NAMESPACES = PLAN["namespace_prefix"]
#: What a browser window shows of a list at first, so what htmx's `revealed` fragments load without scrolling.
CARDS_IN_VIEW, QUEUE_ROWS_IN_VIEW = 4, 2
CHART = re.compile(r'hx-get="(/clusters/[^"]+/namespaces/[^"]+/chart/[^"]*)" hx-trigger="(\w+)"')
EVIDENCE = re.compile(r'hx-get="(/requests/\d+/evidence/)" hx-trigger="(\w+)"')

#: name -> response times (ms) of the measured window; name -> failure messages.
timings: dict[str, list[float]] = defaultdict(list)
failures: dict[str, list[str]] = defaultdict(list)
window = {"start": None, "end": None}
_identities = {role: count() for role in ("lead", "member", "approver", "finance")}


@events.spawning_complete.add_listener
def _start_window(user_count: int, **_) -> None:
    window["start"] = time.time() + WARMUP


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, start_time=None, **_) -> None:
    if window["start"] is None or (start_time or time.time()) < window["start"]:
        return
    if exception is not None:
        failures[name].append(str(exception)[:200])
    else:
        timings[name].append(response_time)


@events.quitting.add_listener
def _write(environment, **_) -> None:
    window["end"] = time.time()
    with open(os.environ["LOAD_TIMINGS"], "w") as file:
        json.dump({"window": window, "timings": timings, "failures": failures}, file)


class Person(FastHttpUser):
    """Someone with a browser: a session cookie, pages that must answer 200, a static asset now and then."""

    abstract = True
    role = ""
    wait_time = between(*THINK)

    def on_start(self) -> None:
        people = PLAN[self.role]
        self.me = people[next(_identities[self.role]) % len(people)]
        self.headers = {"Cookie": self.me.get("cookie", "")}

    def page(self, path: str, name: str, *, expect: str = "", **kwargs) -> str:
        """The response's text; anything but a 200 (a redirect to sign in, too) is an error."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        method = kwargs.pop("method", "GET")
        with self.client.request(
            method, path, name=name, headers=headers, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} for {path}")
                return ""
            if expect and expect not in response.text:
                response.failure(f"{path} did not contain {expect!r}")
            return response.text

    def fragments(self, html: str, pattern: re.Pattern, name: str, in_view: int) -> None:
        """What htmx loads after the page: every `load` fragment, and the `revealed` ones in the window."""
        found = pattern.findall(html)
        for index, (path, trigger) in enumerate(found):
            if trigger == "load" or index < in_view:
                self.page(path, name, headers={"HX-Request": "true"})

    def look_at_dashboard(self) -> None:
        html = self.page("/teams/", "dashboard", expect=self.me["namespaces"][0])
        self.fragments(html, CHART, "usage chart (htmx)", CARDS_IN_VIEW)

    def look_at_a_namespace(self) -> None:
        name = random.choice(self.me["namespaces"])
        html = self.page(f"{NAMESPACES}{name}/", "namespace page", expect=name)
        self.fragments(html, CHART, "usage chart (htmx)", 1)

    @task(1)
    def static_file(self) -> None:
        """The floor: a file WhiteNoise serves from memory, through the same gunicorn."""
        self.page(STATIC, "static file (floor)", headers={"Accept-Encoding": "gzip"})


class TeamLead(Person):
    """Looks at the team's namespaces and asks for more GPUs, the form checking each keystroke."""

    role = "lead"
    weight = 30

    @task(3)
    def dashboard(self) -> None:
        self.look_at_dashboard()

    @task(3)
    def namespace_page(self) -> None:
        self.look_at_a_namespace()

    @task(2)
    def ask_for_more_gpus(self) -> None:
        form = random.choice(self.me["forms"])
        name = form["namespace"]
        self.page(f"/requests/new/change_quota/?namespace={name}", "request form", expect=name)
        fields = dict(form["fields"])
        self.preview(fields)  # on load
        for typed in ("1", "12", "12x", "10"):  # the lead types; htmx posts the form after each pause
            fields[form["gpu_field"]] = typed
            fields["justification"] = "More GPUs for the next training run."[: 8 * len(typed)]
            self.page(
                "/requests/new/change_quota/validate/",
                "policy check (htmx)",
                method="POST",
                data=fields,
                headers={"HX-Request": "true", "X-CSRFToken": self.me["csrf"]},
            )
            self.preview(fields)

    def preview(self, fields: dict) -> None:
        headers = {"HX-Request": "true", "X-CSRFToken": self.me["csrf"]}
        self.page("/requests/preview/change_quota/", "YAML preview (htmx)", method="POST", data=fields, headers=headers)


class TeamMember(Person):
    role = "member"
    weight = 10

    @task(2)
    def dashboard(self) -> None:
        self.look_at_dashboard()

    @task(3)
    def namespace_page(self) -> None:
        self.look_at_a_namespace()


class Approver(Person):
    role = "approver"
    weight = 5

    @task(3)
    def queue(self) -> None:
        html = self.page("/queue/", "approval queue", expect="Approval queue")
        # The dry runs a row also loads ask the API server: the benchmark has no cluster, so none is sent.
        self.fragments(html, EVIDENCE, "queue evidence (htmx)", QUEUE_ROWS_IN_VIEW)


class Finance(Person):
    """Pulls chargeback through the API with a token, as a finance export script does."""

    role = "finance"
    weight = 5

    def on_start(self) -> None:
        super().on_start()
        self.headers = {"Authorization": f"Bearer {self.me['token']}"}

    @task(2)
    def chargeback_json(self) -> None:
        self.page(PLAN["chargeback_json"], "chargeback API (JSON)", expect='"rows"')

    @task(1)
    def chargeback_csv(self) -> None:
        self.page(PLAN["chargeback_csv"], "chargeback API (CSV)", expect="cost_center")
