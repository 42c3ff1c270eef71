# A cluster's guaranteed total as an index-only scan (every queue page).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0012_clusters"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="teamnamespace",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["cluster", "guaranteed_gpus"],
                name="teamnamespace_live_guaranteed",
            ),
        ),
    ]
