# Capacity in GPU-equivalents: MIG slices and shared GPUs by their weights.

from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0006_connection_credentials'),
    ]

    operations = [
        migrations.AlterField(
            model_name='clusterconnection',
            name='gpu_capacity',
            field=models.DecimalField(decimal_places=6, default=Decimal('0'), help_text='Allocatable GPU-equivalents over Ready nodes: nvidia.com/gpu, and MIG slices and shared GPUs by their weights (teams.models.GpuResource).', max_digits=16),
        ),
    ]
