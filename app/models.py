"""Import hub: every table, so that ``SQLModel.metadata`` is complete for Alembic and tests."""

from app.auth.models import ApiToken, AuditEvent, Membership, User
from app.checklists.models import ChecklistItem, ChecklistPoints, ChecklistVersion
from app.kpis.models import KpiCap, KpiEvent, KpiTally, KpiUpload, KpiValue, KpiVersion
from app.notify.models import ReminderLog, ReminderRule
from app.orgs.models import Unit, UnitLink
from app.outbox.models import NotifyChannel, NotifyOptOut, OutboxMessage
from app.reorg.models import ScheduledReorg
from app.rounds.models import Round, RoundEvent
from app.sheets.models import Answer, Sheet, SheetEvent, SheetReview, SheetTally
from app.support.models import SupportRecord, SupportRecordItem
from app.trend.models import Target

__all__ = [
    "Answer",
    "ApiToken",
    "AuditEvent",
    "ChecklistItem",
    "ChecklistPoints",
    "ChecklistVersion",
    "KpiCap",
    "KpiEvent",
    "KpiTally",
    "KpiUpload",
    "KpiValue",
    "KpiVersion",
    "Membership",
    "NotifyChannel",
    "NotifyOptOut",
    "OutboxMessage",
    "ReminderLog",
    "ReminderRule",
    "Round",
    "RoundEvent",
    "ScheduledReorg",
    "Sheet",
    "SheetEvent",
    "SheetReview",
    "SheetTally",
    "SupportRecord",
    "SupportRecordItem",
    "Target",
    "Unit",
    "UnitLink",
    "User",
]
