"""A form refused by the server says so in its title and summarises what to fix, linking to each field."""

from django.urls import reverse

from teams.models import Request, TeamNamespace


def quota_form(**overrides) -> dict:
    namespace = TeamNamespace.objects.get(name="ml-research")
    data = {f"quota|0|{key}": value for key, value in namespace.quotas[0]["hard"].items()}
    data.update({"namespace": "ml-research", "justification": "More GPUs for the deadline."}, **overrides)
    return data


def test_a_refused_form_has_an_error_title_a_summary_and_fields_marked_invalid(world, sign_in):
    client = sign_in("research-lead")

    response = client.post(
        reverse("request-new", args=["change_quota"]), quota_form(**{"quota|0|requests.cpu": "lots"})
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert Request.objects.count() == 0
    assert "<title>Error: not sent · Change quota · GPU Quota Portal</title>" in html
    summary = html[html.index('id="error-summary"') : html.index("</div>", html.index('id="error-summary"'))]
    assert 'tabindex="-1" data-focus-on-load' in summary
    assert (
        '<li><a href="#f-quota-0-requests-cpu">CPU requests (requests.cpu): Not a valid quantity: '
        "&#x27;lots&#x27; is not a quantity" in summary
    )
    assert summary.count("<li>") == 1
    field = html[html.index('id="f-quota-0-requests-cpu"') :].split(">")[0]
    assert 'aria-describedby="f-quota-0-requests-cpu-error"' in field
    assert 'aria-invalid="true"' in field


def test_a_form_not_yet_sent_has_no_error_summary(world, sign_in):
    html = sign_in("research-lead").get(
        reverse("request-new", args=["change_quota"]) + "?cluster=default&namespace=ml-research"
    )

    assert 'id="error-summary"' not in html.content.decode()
    assert "<title>Change quota · GPU Quota Portal</title>" in html.content.decode()
