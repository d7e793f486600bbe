# Joins the migrations of work done in parallel (GPU settings, reliability, research, ...).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0006_gpu_settings"),
        ("experiments", "0006_reliability"),
        ("experiments", "0006_research"),
    ]

    operations = []
