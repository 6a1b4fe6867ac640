"""kpis: the service KPIs (response 15 min, on site 2 h, repaired 24 h, first-time fix, NPS, parts at first
visit, remote fixes, idle-while-waiting), one definition each, computed from timestamps in the database.

The board's strip, ``GET /api/kpis`` (+ CSV), the KPI page and ``bench.live_day`` all use this package.
"""

from kpis.definitions import RESPONSE_KINDS
from kpis.models import IncidentFacts, NpsAnswer, Promise, TechnicianFacts, Visit
from kpis.service import MAX_DAYS, Duty, Report, duty_now, report, since, strip, to_csv
from kpis.tally import rates, tally

__all__ = [
    "MAX_DAYS",
    "RESPONSE_KINDS",
    "Duty",
    "IncidentFacts",
    "NpsAnswer",
    "Promise",
    "Report",
    "TechnicianFacts",
    "Visit",
    "duty_now",
    "rates",
    "report",
    "since",
    "strip",
    "tally",
    "to_csv",
]
