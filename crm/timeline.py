"""The timeline of a contact, account or deal: what happened to it, newest first, from every app.

The sales core knows nothing of the apps above it. Each app that keeps records about a contact,
account or deal (calls, texts, e-mails, documents, quotes) subscribes a `TimelineSource` from its
`AppConfig.ready()`, saying which of its rows concern which record and how to summarise one in SQL.
The timeline is one UNION ALL of every source's rows, sorted and paged by the database: a page costs
one query and its count another, however many entries or sources there are.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Concat, Left

# The record kinds a timeline belongs to, by the name a source's `concerns` uses for each.
RECORD_KINDS = ("contact", "account", "deal")
SUMMARY_LENGTH = 200
ENTRY_COLUMNS = ("entry_id", "type", "summary", "occurred_at")


@dataclass(frozen=True)
class TimelineSource:
    """One kind of timeline entry: its rows, what each row concerns, and a one-line summary.

    `rows` returns the current company's rows (the model's default manager). `concerns` maps a record
    kind to the lookups that reach that record from a row (`"contact"`, `"contact__account"`); a row
    concerns a record if any of them names it, and a kind left out has no entries of this type.
    `summary` builds the entry's text as a database expression, so no row is read into Python.
    """

    type: str
    rows: Callable[[], models.QuerySet]
    concerns: dict[str, tuple[str, ...]]
    summary: Callable[[], models.Expression]
    occurred_at: str = "created_at"

    def entries(self, kind: str, record_id) -> models.QuerySet | None:
        """This source's entries about one record, as rows of ENTRY_COLUMNS, or None if it keeps none."""
        lookups = self.concerns.get(kind, ())
        if not lookups:
            return None
        condition = Q()
        for lookup in lookups:
            condition |= Q(**{lookup: record_id})
        return (
            self.rows()
            .filter(condition)
            .order_by()
            .annotate(
                entry_id=F("id"),
                type=Value(self.type, output_field=models.CharField()),
                summary=Left(Cast(self.summary(), models.TextField()), SUMMARY_LENGTH),
                occurred_at=F(self.occurred_at),
            )
            .values(*ENTRY_COLUMNS)
        )


_sources: dict[str, TimelineSource] = {}


def subscribe_timeline_source(source: TimelineSource) -> None:
    """Add a kind of entry to every contact's, account's and deal's timeline (once per type)."""
    _sources[source.type] = source


def timeline_sources() -> list[TimelineSource]:
    """The subscribed sources, in the order they subscribed."""
    return list(_sources.values())


def timeline_entries(kind: str, record_id):
    """Every entry about one record, newest first, as one query (rows of ENTRY_COLUMNS)."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"A timeline belongs to one of {RECORD_KINDS}, not {kind!r}.")
    parts = [part for source in _sources.values() if (part := source.entries(kind, record_id)) is not None]
    first, *rest = parts  # the sales core's own notes concern every kind of record
    entries = first.union(*rest, all=True) if rest else first
    return entries.order_by("-occurred_at", "-entry_id")


def text(*parts) -> models.Expression:
    """A summary joined from columns (named as strings) and fixed text (wrapped in Value)."""
    if len(parts) == 1:
        return F(parts[0]) if isinstance(parts[0], str) else parts[0]
    return Concat(*parts, output_field=models.TextField())
