"""Words the keeper's pages show that come from elsewhere as data (marked here so that they
are extracted for translation; the pages translate them with `_()` when shown)."""

from django.utils.translation import gettext_noop

CASE_TYPE_NAMES = (
    gettext_noop("late licensing penalty"),
    gettext_noop("out-of-court settlement"),
    gettext_noop("uninsured vehicle penalty"),
    gettext_noop("penalty"),
)

# The vehicle colours ECS records (DVLA's list), shown with the vehicle.
COLOURS = (
    gettext_noop("Beige"),
    gettext_noop("Black"),
    gettext_noop("Blue"),
    gettext_noop("Bronze"),
    gettext_noop("Brown"),
    gettext_noop("Cream"),
    gettext_noop("Gold"),
    gettext_noop("Green"),
    gettext_noop("Grey"),
    gettext_noop("Maroon"),
    gettext_noop("Multi-Coloured"),
    gettext_noop("Orange"),
    gettext_noop("Pink"),
    gettext_noop("Purple"),
    gettext_noop("Red"),
    gettext_noop("Silver"),
    gettext_noop("Turquoise"),
    gettext_noop("White"),
    gettext_noop("Yellow"),
)
