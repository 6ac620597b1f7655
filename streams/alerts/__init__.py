"""Alerts: pure functions from transaction records (and per-issuer state) to Alert messages.

No Faust and no I/O here apart from reading the rules file: the agents call these functions and store the
states in tables, so every rule is testable on plain records.
"""

from streams.alerts.evaluate import evaluate_filing
from streams.alerts.ids import alert_id
from streams.alerts.rules import RulesConfig, RulesError, load_rules
from streams.alerts.windows import ClusterState, FirstPurchaseState, cluster_step, first_purchase_step

__all__ = [
    "ClusterState",
    "FirstPurchaseState",
    "RulesConfig",
    "RulesError",
    "alert_id",
    "cluster_step",
    "evaluate_filing",
    "first_purchase_step",
    "load_rules",
]
