from django import forms
from django.utils.translation import gettext_lazy as _

from experiments.validation import AsciiIntegerField

from .models import Mooc

DURATION_BUCKETS = {
    "short": (0, 9.0),
    "medium": (9.0, 18.0),
    "long": (18.0, 10_000.0),
}
DURATION_CHOICES = [
    ("short", _("Up to 2 months")),
    ("medium", _("2 to 4 months")),
    ("long", _("More than 4 months")),
]
PRICE_CHOICES = [("free", _("Free to study")), ("paid", _("Paid"))]
YES_NO = [("yes", _("Yes")), ("no", _("No"))]
SORT_CHOICES = [
    ("", _("Thesis order")),
    ("name", _("Name")),
    ("duration", _("Duration (shortest first)")),
    ("price", _("Price (cheapest first)")),
]


class CourseFilterForm(forms.Form):
    """Facets of the catalogue. Filtering happens in Python: there are seven MOOCs."""

    platform = forms.MultipleChoiceField(
        label=_("Platform"), required=False, widget=forms.CheckboxSelectMultiple
    )
    price = forms.ChoiceField(
        label=_("Price"), required=False, choices=[("", _("Any"))] + PRICE_CHOICES
    )
    certificate = forms.ChoiceField(
        label=_("Certificate"), required=False, choices=[("", _("Any"))] + YES_NO
    )
    library = forms.ChoiceField(label=_("Library"), required=False)
    duration = forms.ChoiceField(
        label=_("Duration"), required=False, choices=[("", _("Any"))] + DURATION_CHOICES
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args, moocs: list[Mooc], **kwargs):
        super().__init__(*args, **kwargs)
        platforms = sorted({m.platform for m in moocs})
        self.fields["platform"].choices = [(p, p) for p in platforms]
        libraries = sorted(
            {(lib.slug, lib.name) for m in moocs for lib in m.libraries.all()},
            key=lambda item: item[1].lower(),
        )
        self.fields["library"].choices = [("", _("Any"))] + libraries

    @staticmethod
    def matches(mooc: Mooc, facet: str, value: str) -> bool:
        if facet == "platform":
            return mooc.platform == value
        if facet == "price":
            return mooc.is_free is (value == "free")
        if facet == "certificate":
            return mooc.certificate is (value == "yes")
        if facet == "library":
            return any(lib.slug == value for lib in mooc.libraries.all())
        if facet == "duration":
            low, high = DURATION_BUCKETS[value]
            return low < mooc.duration_weeks <= high
        return True

    def apply(self, moocs: list[Mooc]) -> list[Mooc]:
        data = self.cleaned_data
        shown = [
            m
            for m in moocs
            if (
                not data["platform"]
                or any(self.matches(m, "platform", p) for p in data["platform"])
            )
            and all(
                not data[f] or self.matches(m, f, data[f])
                for f in ("price", "certificate", "library", "duration")
            )
        ]
        sort = data.get("sort")
        if sort == "name":
            shown.sort(key=lambda m: m.name.lower())
        elif sort == "duration":
            shown.sort(key=lambda m: m.duration_weeks)
        elif sort == "price":
            shown.sort(key=_price_key)
        return shown

    def facet_counts(self, moocs: list[Mooc]) -> dict[str, dict[str, int]]:
        """How many of all MOOCs each facet value would match on its own."""
        counts: dict[str, dict[str, int]] = {}
        for facet in ("platform", "price", "certificate", "library", "duration"):
            counts[facet] = {
                value: sum(self.matches(m, facet, value) for m in moocs)
                for value, _label in self.fields[facet].choices
                if value
            }
        return counts


def _price_key(mooc: Mooc) -> tuple:
    if mooc.is_free is None:
        return (2, 0)
    if mooc.is_free:
        return (0, 0)
    return (1, float(mooc.monthly_price_eur or 0))


APPROACH_CHOICES = [
    ("theory", _("Theory first: understand the concepts, then apply them")),
    ("practice", _("Practice first: build things, then look at the theory")),
]
BUDGET_CHOICES = [
    ("free", _("Nothing: free courses only")),
    ("low", _("Up to 50 € per month")),
    ("any", _("Budget is not a concern")),
]
LIBRARY_CHOICES = [
    ("any", _("No preference")),
    ("keras", _("Keras / TensorFlow")),
    ("pytorch", _("PyTorch")),
    ("fastai", _("fastai")),
]


class RecommendForm(forms.Form):
    approach = forms.ChoiceField(
        label=_("How do you prefer to learn?"), choices=APPROACH_CHOICES, widget=forms.RadioSelect
    )
    budget = forms.ChoiceField(label=_("Budget"), choices=BUDGET_CHOICES, widget=forms.RadioSelect)
    certificate = forms.ChoiceField(
        label=_("Do you want a certificate?"), choices=YES_NO, widget=forms.RadioSelect
    )
    hours = AsciiIntegerField(label=_("Hours you can study per week"), min_value=1, max_value=60)
    library = forms.ChoiceField(label=_("Preferred library"), choices=LIBRARY_CHOICES)
    programming_year = forms.ChoiceField(
        label=_("Do you have at least a year of programming experience?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
    )


class PlanForm(forms.Form):
    """The study plan's parameters; GET, so a plan is a shareable URL."""

    path = forms.ChoiceField(label=_("Study path"))
    hours = AsciiIntegerField(
        label=_("Hours you can study per week"), min_value=1, max_value=60, initial=6
    )
    start = forms.DateField(
        label=_("Start date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, paths=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["path"].choices = [(p.slug, p.tr("title")) for p in paths]

    def clean_start(self):
        start = self.cleaned_data["start"]
        if not 2000 <= start.year <= 2100:
            raise forms.ValidationError(_("Choose a start date between 2000 and 2100."))
        return start


class SignUpForm(forms.Form):
    """A learner account: no e-mail confirmation, the address is for password resets."""

    username = forms.RegexField(
        label=_("User name"),
        max_length=150,
        regex=r"^[\w.@+-]+\Z",
        error_messages={"invalid": _("Use letters, digits and @/./+/-/_ only.")},
    )
    email = forms.EmailField(label=_("E-mail"), help_text=_("Used only to reset your password."))
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean_username(self):
        from django.contrib.auth import get_user_model

        name = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError(_("That user name is taken."))
        return name

    def clean(self):
        from django.contrib.auth import password_validation

        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif data.get("password1"):
            try:
                password_validation.validate_password(data["password1"])
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data
