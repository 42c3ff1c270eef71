"""Running totals that event subscribers add to, for the metrics that count what happened."""

from django.db import models


class EventTally(models.Model):
    """One running total (a counter, a histogram bucket or its sum), shared by every process.

    Events are recorded in web processes and Celery workers alike, each with its own memory,
    while Prometheus scrapes one web process: kept here, the totals are the same whichever
    process answers the scrape, and they survive restarts. A row only ever grows.
    """

    metric = models.CharField(max_length=100)
    key = models.CharField(max_length=100, help_text="A label value, or a histogram bucket's upper bound or 'sum'.")
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["metric", "key"], name="event_tally_unique_key")]
        ordering = ["metric", "key"]

    def __str__(self) -> str:
        return f"{self.metric}[{self.key}] = {self.value:g}"
