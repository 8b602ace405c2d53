"""Constants of the SmarterProctoring API (api-contract §2, §4, §6, §8)."""

from __future__ import annotations

#: Proctor types (TS SIDs) the simulator knows, with their names (api-contract §8).
PROCTOR_TYPES: dict[str, str] = {
    "TS4b894875d26194988853e490dfb9bc41": "Live Online Proctoring",
    "TS63dda27a6ba54c218449b934b7bb1ba8": "Automated Online Proctoring",
    "TS9531c6b112f145018dae3cd2a9f60c4c": "Automated Online Proctoring with Review",
    "TS6d6011935f4646848ea4f7a29b4f61a5": "Virtual Test Center",
    "TSbff39e6956b84f6399ecaac991d9a529": "Institution Testing Centers",
    "TSc93c23e553ba4e2f9758e3f0649b667b": "Instructor as Proctor",
}

PROCTOR_OPTIONS: frozenset[str] = frozenset(
    {
        "recordScreen",
        "recordWebcam",
        "recordAudio",
        "forceFullScreen",
        "onlyOneScreen",
        "disableNewTabs",
        "closeOpenTabs",
        "disablePrinting",
        "disableClipboard",
        "disableRightClick",
        "verifyId",
        "roomScan",
    }
)

PERMITTED_ITEMS: frozenset[str] = frozenset(
    {
        "bathroomBreak",
        "calculator",
        "dictionary",
        "earplugs",
        "formulaSheet",
        "notes",
        "textbook",
        "websites",
    }
)

EXAM_TYPES: tuple[str, ...] = ("online", "written")
ROLES: tuple[str, ...] = ("learner", "instructor")
SESSION_TYPES: tuple[str, ...] = (
    "automated",
    "b-virtual",
    "ad-hoc",
    "instructor-as-proctor",
    "messaging",
    "register-blast",
    "vtc",
    "proctoru",
    "examity",
    "smarter-scheduling",
)
CANCEL_REASONS: tuple[str, ...] = ("no-show", "changed-time", "technical-issue", "other-reason")

NEEDS_PROCTOR = "Needs Proctor"
SCHEDULED = "Scheduled"
ONBOARDING = "Onboarding"
IN_PROGRESS = "In Progress"
CLOSED = "Closed"
CANCELLED = "Cancelled"
STATUSES: tuple[str, ...] = (NEEDS_PROCTOR, SCHEDULED, ONBOARDING, IN_PROGRESS, CLOSED, CANCELLED)
#: A session in one of these is the enrollment's *active* session for its exam (§6).
ACTIVE_STATUSES: frozenset[str] = frozenset({NEEDS_PROCTOR, SCHEDULED, ONBOARDING, IN_PROGRESS})

#: statusReason of sessions cancelled because their enrollment left the exam's scope.
REASON_REMOVED = "removed-by-limited-scope"
#: statusReason of sessions cancelled because their enrollment stopped being a learner.
REASON_ROLE_CHANGED = "enrollment-role-changed"

DEFAULT_TIMEZONE = "America/New_York"
DEFAULT_CURRENCY = "USD"
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 100
