"""Alerts: pure functions from transaction records (and state kept through the state port) to Alert messages.

No Faust and no I/O here apart from reading the rules file. The pipeline calls ``alert_step`` once per filing
with a ``streams.state.State``; ``flow_report`` answers GET /issuers/{cik}/flow from the same state.
"""

from streams.alerts.evaluate import evaluate_filing
from streams.alerts.flow import flow_report
from streams.alerts.ids import alert_id, event_alert_id
from streams.alerts.rules import RulesConfig, RulesError, load_rules
from streams.alerts.step import alert_step
from streams.alerts.windows import ClusterState, FirstPurchaseState, cluster_step, first_purchase_step

__all__ = [
    "ClusterState",
    "FirstPurchaseState",
    "RulesConfig",
    "RulesError",
    "alert_id",
    "alert_step",
    "cluster_step",
    "evaluate_filing",
    "event_alert_id",
    "first_purchase_step",
    "flow_report",
    "load_rules",
]
