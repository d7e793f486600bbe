"""The Researchers group: import datasets, launch/clone/reproduce and cancel jobs."""

from django.db import migrations

RESEARCHER_PERMISSIONS = [
    ("experiments", "import_dataset"),
    ("experiments", "launch_trainingjob"),
    ("experiments", "cancel_trainingjob"),
    ("experiments", "view_dataset"),
    ("experiments", "view_trainingjob"),
    ("experiments", "view_epochmetric"),
]


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Researchers")
    for app_label, codename in RESEARCHER_PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Researchers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0003_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
