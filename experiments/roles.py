"""The Researchers group and what it may do (also created by migration 0004)."""

from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

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


def permission_for_action(perm: str):
    """Anonymous: to the login page. Logged in without the permission: 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(perm):
                raise PermissionDenied(
                    _(
                        "Your account may not do this; ask an admin to add it "
                        "to the Researchers group."
                    )
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def is_researcher(user) -> bool:
    return bool(user.is_authenticated and user.has_perm("experiments.launch_trainingjob"))


def visible_error(error: str, user) -> str:
    """Researchers see a failure's detail (traceback); everyone else its one-line reason."""
    if not error or is_researcher(user):
        return error
    return error.split("\n\n", 1)[0].strip().splitlines()[0][:500]
