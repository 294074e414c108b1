"""Filter building blocks every list shares: UTC datetime filters and a backend that names unknown filters."""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.validators import MaxValueValidator
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from .errors import BadRequest

# Query parameters every list understands besides its filters: pagination, search, ordering, format.
STANDARD_QUERY_PARAMETERS = frozenset({"page", "page_size", "search", "ordering", "format"})


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime, converted to UTC: PostgreSQL refuses offsets beyond 15:59 (a 500 before)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+07:00 lies before the first moment a datetime holds in UTC (a 500 before):
            # as a bound it compares like that first (or last) moment, since no stored value lies beyond.
            edge = datetime.min if parsed.year == datetime.min.year else datetime.max
            return edge.replace(tzinfo=UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 datetime filter, compared in UTC."""

    field_class = UtcIsoDateTimeField


class StrictBooleanField(forms.NullBooleanField):
    """`true` or `false` as the schema's boolean has it; any other word is an error, not "absent"."""

    widget = forms.TextInput  # the raw word reaches to_python; django-filter's widget maps others to None

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError("Must be true or false.", code="invalid")

    def validate(self, value):
        pass


class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's boolean filter that refuses words other than `true` and `false`."""

    field_class = StrictBooleanField


# django-filter refuses a number above 1e50 (its guard against overflow); the schema states the bound.
NUMBER_FILTER_MAXIMUM = 10**50


@extend_schema_field({"type": "number", "maximum": NUMBER_FILTER_MAXIMUM})
class NumberFilter(django_filters.NumberFilter):
    """django-filter's decimal filter, its upper bound stated in the schema."""

    def get_max_validator(self):
        # The exact bound: django-filter's float 1e50 lies a little above 10**50.
        return MaxValueValidator(NUMBER_FILTER_MAXIMUM)


@extend_schema_field({"type": "integer", "maximum": NUMBER_FILTER_MAXIMUM})
class IntegerFilter(NumberFilter):
    """A whole-number filter: django-filter's NumberFilter took `0.5` for an integer column."""

    field_class = forms.IntegerField


def boolean_query_parameter(request, name: str) -> bool | None:
    """A `true`/`false` query parameter read outside a filterset: None when absent or empty, else a 400."""
    try:
        return StrictBooleanField().clean(request.query_params.get(name))
    except forms.ValidationError as error:
        raise ValidationError({name: error.messages}) from error


def without_empty_values(query_params):
    """The query parameters with `?name=` dropped: every filter reads an empty value as absent."""
    kept = query_params.copy()
    for name in list(kept):
        values = [value for value in kept.getlist(name) if value != ""]
        if values:
            kept.setlist(name, values)
        else:
            del kept[name]
    return kept


def refuse_unknown_query_parameters(request, known) -> None:
    """400 naming the query parameters outside `known` and the standard ones."""
    unknown = sorted(set(request.query_params) - STANDARD_QUERY_PARAMETERS - set(known))
    if unknown:
        names = ", ".join(unknown)
        raise ValidationError(
            {"detail": f"Unknown query parameter(s): {names}. This list has no such filter."}
        )


def refuse_repeated_query_parameters(request, multi_valued) -> None:
    """400 naming a parameter given more than once that takes one value (only the last would count)."""
    repeated = sorted(
        name
        for name in request.query_params
        if name not in multi_valued and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        raise ValidationError({"detail": f"Give each of these query parameters once: {', '.join(repeated)}."})


def refuse_padded_typed_values(request, filterset_class) -> None:
    """400 for an id, number, date or choice with whitespace around it.

    Django's form fields trim such values, so `?contact=%20` would read as no filter at all and
    `?amount_min=%205` as 5, while the schema's formats refuse both. Text filters take any text.
    """
    if filterset_class is None:
        return
    padded = sorted(
        name
        for name, declared in filterset_class.base_filters.items()
        if not isinstance(declared, django_filters.CharFilter)
        and any(value != value.strip() for value in request.query_params.getlist(name))
    )
    if padded:
        raise ValidationError({name: ["Give the value without spaces around it."] for name in padded})


def multi_valued_parameters(filterset_class) -> set[str]:
    """Filters that take a value more than once (`?stage=won&stage=lost`)."""
    if filterset_class is None:
        return set()
    return {
        name
        for name, declared in filterset_class.base_filters.items()
        if issubclass(declared.field_class, forms.MultipleChoiceField)
    }


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """django-filter's backend that answers 400 naming any query parameter a list does not understand.

    A list accepts the standard parameters, its filterset's filters, and the names a viewset lists in
    `extra_query_parameters`; a misspelt filter would otherwise silently return every row.
    """

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) == "list":
            filterset_class = self.get_filterset_class(view, queryset)
            refuse_unknown_query_parameters(request, self.known_query_parameters(filterset_class, view))
            refuse_repeated_query_parameters(request, multi_valued_parameters(filterset_class))
            refuse_padded_typed_values(request, filterset_class)
        return super().filter_queryset(request, queryset, view)

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["data"] = without_empty_values(kwargs["data"])
        return kwargs

    @staticmethod
    def known_query_parameters(filterset_class, view) -> set[str]:
        known = set(getattr(view, "extra_query_parameters", ()))
        if filterset_class is not None:
            for name, declared in filterset_class.base_filters.items():
                known.add(name)
                suffixes = getattr(declared.field.widget, "suffixes", None)
                known.update(f"{name}_{suffix}" if suffix else name for suffix in suffixes or ())
        return known


class StrictOrderingFilter(OrderingFilter):
    """DRF's `?ordering=`, refusing fields a list cannot sort by (DRF dropped them silently)."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
        invalid = [term for term in fields if term.lstrip("-") not in valid]
        if invalid:
            names = ", ".join(sorted(valid))
            raise ValidationError({"ordering": [f"Cannot sort by {', '.join(invalid)}; sort by: {names}."]})
        return fields  # all valid: DRF's own pass would only look the valid fields up again

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, list | tuple) and fields:
            one = "-?(" + "|".join(sorted(fields)) + ")"
            for parameter in parameters:
                parameter["schema"]["pattern"] = rf"^{one}(,{one})*$"
                parameter["description"] = f"Comma-separated fields, `-` for descending: {', '.join(fields)}."
        return parameters


def narrowed_to_status(queryset, request, statuses):
    """A nested list narrowed to `?status=` when one is given; an unknown status is a 400 naming them all."""
    wanted = request.query_params.get("status")
    if not wanted:
        return queryset
    if wanted not in statuses:
        raise BadRequest(f"status is one of: {', '.join(statuses)}.")
    return queryset.filter(status=wanted)
