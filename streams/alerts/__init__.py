"""Alerts: pure functions from transaction records (and per-issuer state) to Alert messages.

No Faust and no I/O here apart from reading the rules file: the agents call these functions and store the
states in tables, so every rule is testable on plain records.
"""

from streams.alerts.evaluate import evaluate_filing
from streams.alerts.ids import alert_id
from streams.alerts.rules import RulesConfig, RulesError, load_rules
from streams.alerts.windows import ClusterState, FirstPurchaseState, cluster_step, first_purchase_step
from streams.models import Alert, TransactionRecord
from streams.state import State, key

__all__ = [
    "ClusterState",
    "FirstPurchaseState",
    "RulesConfig",
    "RulesError",
    "alert_id",
    "alert_step",
    "cluster_step",
    "evaluate_filing",
    "first_purchase_step",
    "load_rules",
]


def alert_step(
    records: list[TransactionRecord], state: State, rules: RulesConfig
) -> tuple[list[TransactionRecord], list[Alert]]:
    """One filing's records against the issuer's alert state: the records (unchanged here) and the alerts."""
    if not records:
        return records, []
    issuer = records[0].issuer.cik
    alerts = list(evaluate_filing(records, rules))
    stored = state.get(key("cluster", issuer))
    cluster, more = cluster_step(ClusterState.model_validate(stored) if stored else None, records, rules)
    alerts += more
    state.put(key("cluster", issuer), cluster.model_dump(mode="json"))
    owners = sorted({o.cik for r in records for o in r.reporting_owners})
    known = [o for o in owners if state.get(key("hist", issuer, o)) is not None]
    first, more = first_purchase_step(FirstPurchaseState(issuer_cik=issuer, buyers=known), records, rules)
    alerts += more
    for owner in set(first.buyers) - set(known):
        state.put(key("hist", issuer, owner), {"bought": True})
    return records, alerts
