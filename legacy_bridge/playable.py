"""Which of the school's topics can be played, and why not: the words a teacher reads.

A topic is playable when a shipped drawing model can recognise its label within its category
(the recogniser's `check_labels`, or a plain set of known labels). A category is played only
with at least `MIN_PLAYABLE_TOPICS` playable topics: with one, every scribble would "be" that
topic, since a drawing is only compared within its category.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from typing import Any

from game.topics import Category, Topic

MIN_PLAYABLE_TOPICS = 2
INACTIVE = "switched off (not active) in the school service"

KnownLabels = Callable[[str], frozenset[str]] | Set[str] | Any  # Any: a `LabelCatalogue`


def is_catalogue(known: object) -> bool:
    """Does `known` check whole categories and follow them (`inference.api.LabelCatalogue`)?"""
    return callable(getattr(known, "check_labels", None)) and callable(
        getattr(known, "assign_categories", None))


def unknown_label_reason(label: str) -> str:
    """Why a label no model knows cannot be played."""
    return (f"the game cannot recognise drawings of {label!r} yet: none of its drawing models "
            "has learnt it")


def verdicts(known: KnownLabels, category: Category) -> dict[str, str | None]:
    """Per label of `category`: None when playable, else why not. May raise (the caller says
    what went wrong rather than crash)."""
    if is_catalogue(known):
        answer = known.check_labels(category.code, category.labels)
        return {label: answer.get(label, unknown_label_reason(label))
                for label in category.labels}
    labels = known(category.code) if callable(known) else known
    return {label: None if label in labels else unknown_label_reason(label)
            for label in category.labels}


@dataclass(frozen=True, slots=True)
class TopicNote:
    """One topic as the teacher named it, and why it cannot be played (None: it can)."""

    label: str
    name_ko: str
    name_en: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        note = {"label": self.label, "name_ko": self.name_ko, "name_en": self.name_en}
        return note if self.reason is None else {**note, "reason": self.reason}


@dataclass(slots=True)
class CategoryReport:
    """One of the school's categories: is it played, with which topics, and why not the rest."""

    code: str
    name_ko: str
    name_en: str
    served: bool
    reason: str | None = None  # why the category is not played
    playable: list[TopicNote] = field(default_factory=list)
    not_playable: list[TopicNote] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name_ko": self.name_ko, "name_en": self.name_en,
                "served": self.served, "reason": self.reason,
                "playable": [t.as_dict() for t in self.playable],
                "not_playable": [t.as_dict() for t in self.not_playable]}


def too_few_reason(playable: list[Topic]) -> str:
    """Why a category with fewer than `MIN_PLAYABLE_TOPICS` playable topics is not played."""
    if not playable:
        return "not played: none of its topics can be played"
    return (f"not played: only one of its topics can be played ({playable[0].label!r}); a game "
            f"needs at least {MIN_PLAYABLE_TOPICS} to tell drawings apart")


def judge(category: Category, found: dict[str, str | None],
          inactive: Iterable[Topic] = ()) -> tuple[Category | None, CategoryReport]:
    """The category to serve (only its playable topics; None when too few) and its report."""
    playable = [t for t in category.topics if found.get(t.label) is None]
    report = CategoryReport(category.code, category.name_ko, category.name_en, served=True,
                            playable=[TopicNote(t.label, t.name_ko, t.name_en) for t in playable])
    report.not_playable = [TopicNote(t.label, t.name_ko, t.name_en, found[t.label])
                           for t in category.topics if found.get(t.label) is not None]
    report.not_playable += [TopicNote(t.label, t.name_ko, t.name_en, INACTIVE) for t in inactive]
    if len(playable) < MIN_PLAYABLE_TOPICS:
        report.served, report.reason = False, too_few_reason(playable)
        return None, report
    served = Category(code=category.code, name_ko=category.name_ko, name_en=category.name_en,
                      topics=tuple(playable), stage_count=category.stage_count,
                      age_min=category.age_min, age_max=category.age_max,
                      sort_order=category.sort_order, extra=dict(category.extra))
    return served, report


def inactive_category(code: str, name_ko: str, name_en: str) -> CategoryReport:
    """The report of a category switched off in the school service."""
    return CategoryReport(code, name_ko, name_en, served=False, reason=f"not played: {INACTIVE}")


def as_text(reports: list[dict[str, Any]]) -> str:
    """The reports (as `CategoryReport.as_dict` gives them) as lines a teacher can read."""
    lines: list[str] = []
    for r in reports:
        head = f"{r['name_ko']} / {r['name_en']} ({r['code']})"
        if r["served"]:
            lines.append(f"{head}: played with {len(r['playable'])} topics")
        else:
            lines.append(f"{head}: {r['reason']}")
        if r["playable"]:
            names = ", ".join(f"{t['name_ko']} ({t['label']})" for t in r["playable"])
            what = "can be played" if r["served"] else "could be recognised"
            lines.append(f"  {what}: {names}")
        for t in r["not_playable"]:
            lines.append(f"  cannot be played: {t['name_ko']} ({t['label']}): {t['reason']}")
    return "\n".join(lines)
