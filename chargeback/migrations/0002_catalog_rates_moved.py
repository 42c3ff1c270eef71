"""Chargeback's Rate table is gone: its rows now live in the tier catalog's (teams.Rate)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chargeback", "0001_initial"),
        ("teams", "0006_catalog_rates"),
    ]

    operations = [
        migrations.DeleteModel(name="Rate"),
    ]
