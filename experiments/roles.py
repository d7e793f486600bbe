"""The Researchers group and what it may do (also created by migration 0004)."""

from django.contrib.auth.models import Group, Permission

RESEARCHER_PERMISSIONS = [
    "import_dataset",
    "launch_trainingjob",
    "cancel_trainingjob",
    "view_dataset",
    "view_trainingjob",
    "view_epochmetric",
]


def ensure_researchers_group() -> Group:
    group, _ = Group.objects.get_or_create(name="Researchers")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="experiments", codename__in=RESEARCHER_PERMISSIONS
        )
    )
    return group
