"""The demo shows an auto-approval rule and a downsize proposal on first start, and seeding again adds neither."""

from datetime import UTC, datetime

from django.core.management import call_command

from chargeback.demo import seed_history
from provisioning.models import UsageSample
from teams.models import AutoApprovalRule, DownsizeProposal, Request

NOW = datetime(2027, 4, 12, 9, 0, tzinfo=UTC)


def test_the_demo_seeds_one_rule_and_one_downsize_proposal_once(world, time_machine, capsys):
    time_machine.move_to(NOW, tick=False)

    call_command("seed_demo")
    first = seed_history(NOW)
    samples = UsageSample.objects.count()
    call_command("seed_demo")
    again = seed_history(NOW)

    [rule] = AutoApprovalRule.objects.all()
    assert (rule.name, rule.mode) == ("Busy teams may grow a little", AutoApprovalRule.Mode.DRY_RUN)
    [proposal] = DownsizeProposal.objects.select_related("request")
    assert (proposal.namespace.name, proposal.guaranteed_gpus, proposal.proposed_gpus) == ("ml-production", 16, 4)
    assert proposal.request.state == Request.State.PENDING
    assert first[1] == f"downsize proposals: #{proposal.request_id}"
    assert again == ["usage history: already there"]
    assert UsageSample.objects.count() == samples
    assert "auto-approval rule 'Busy teams may grow a little' (dry run: records, a person decides)" in (
        capsys.readouterr().out
    )
