"""Alert rules: thresholds in a TOML or JSON file, validated by pydantic, with defaults for every key.

Every model forbids unknown keys, so a typo in the rules file ("min_valu") fails at start-up with the file and
the key named, instead of silently running the default. Money thresholds are Decimal, like the records.
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.models import Role

Severity = Literal["info", "low", "medium", "high"]

# Chair counts with the officers and directors: it is a board seat (and often an executive one too).
OFFICER_ROLES: tuple[Role, ...] = (
    Role.CEO,
    Role.CFO,
    Role.COO,
    Role.PRESIDENT,
    Role.GENERAL_COUNSEL,
    Role.CHAIR,
    Role.OTHER_OFFICER,
)
OFFICER_AND_DIRECTOR_ROLES: tuple[Role, ...] = (*OFFICER_ROLES, Role.DIRECTOR)


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    enabled: bool = True


class LargeDisposition(_Rule):
    """Open-market sale (S) by an officer or director: big in dollars, or a big slice of one holding line.

    F (tax withholding) never counts: it is not a decision to sell.
    """

    severity: Severity = "medium"
    min_value: Decimal = Field(Decimal(1_000_000), ge=0)
    min_fraction: Decimal = Field(Decimal("0.20"), ge=0, le=1)
    roles: list[Role] = Field(default_factory=lambda: list(OFFICER_AND_DIRECTOR_ROLES))


class ExecutiveSale(_Rule):
    """Open-market sale by the CEO or CFO: the sales investors watch most."""

    severity: Severity = "high"
    min_value: Decimal = Field(Decimal(1_000_000), ge=0)
    roles: list[Role] = Field(default_factory=lambda: [Role.CEO, Role.CFO])


class InsiderPurchase(_Rule):
    """Open-market purchase (P) by an officer or director: insiders buy with their own money for one reason."""

    severity: Severity = "medium"
    min_value: Decimal = Field(Decimal(100_000), ge=0)
    roles: list[Role] = Field(default_factory=lambda: list(OFFICER_AND_DIRECTOR_ROLES))
    include_ten_percent_owners: bool = False


class ClusterBuy(_Rule):
    """Several distinct insiders buying the same issuer within a few days (joint filers count once)."""

    severity: Severity = "high"
    min_insiders: int = Field(3, ge=2)
    window_days: int = Field(7, ge=1)
    min_value: Decimal = Field(Decimal(0), ge=0, description="per purchase (one filing, one day)")


class LateFiling(_Rule):
    """A Form 4 filed after the two-business-day deadline (or rows the filer marked late)."""

    severity: Severity = "low"
    min_business_days: int = Field(3, ge=1, description="3 means more than the 2 days the law allows")


class FirstPurchase(_Rule):
    """An insider's first open-market purchase in an issuer in at least min_history_years of known history.

    Not raised when the history this system holds for the insider (``history_known_since``) is shorter: a fresh
    start or a replay knows nothing, and "first since we started" is no signal. At most 3: the history keeps 4
    calendar years of months.
    """

    severity: Severity = "info"
    min_value: Decimal = Field(Decimal(0), ge=0)
    min_history_years: int = Field(2, ge=1, le=3)


class TraderPatternPolicy(_Strict):
    """What a routine trade (Cohen, Malloy and Pomorski 2012: about no signal) does to purchase and sale alerts.

    keep: alert as any other trade; lowest: alert at severity "info"; suppress: no purchase or sale alert.
    """

    routine: Literal["keep", "lowest", "suppress"] = "lowest"


class FlowTurn(_Rule):
    """An issuer's net discretionary (not 10b5-1) open-market buying turning strongly positive over a window.

    Raised when a filing takes the window ending on its filing date to at least min_net_usd net dollars AND
    min_net_insiders more buyers than sellers, and the window was not there before that filing.
    """

    enabled: bool = False
    severity: Severity = "low"
    window_days: Literal[30, 90, 180, 365] = 90
    min_net_usd: Decimal = Field(Decimal(1_000_000), ge=0)
    min_net_insiders: int = Field(2, ge=1)


class RulesConfig(_Strict):
    """Every rule, each with its defaults; an empty rules file means all defaults."""

    large_disposition: LargeDisposition = Field(default_factory=LargeDisposition)
    executive_sale: ExecutiveSale = Field(default_factory=ExecutiveSale)
    insider_purchase: InsiderPurchase = Field(default_factory=InsiderPurchase)
    cluster_buy: ClusterBuy = Field(default_factory=ClusterBuy)
    late_filing: LateFiling = Field(default_factory=LateFiling)
    first_purchase: FirstPurchase = Field(default_factory=FirstPurchase)
    trader_pattern: TraderPatternPolicy = Field(default_factory=TraderPatternPolicy)
    flow_turn: FlowTurn = Field(default_factory=FlowTurn)


def load_rules(path: Path | str | None) -> RulesConfig:
    """The rules from a .toml or .json file, or the defaults for None.

    Raises RulesError (a ValueError) naming the file and the bad key, so the worker stops at start-up.
    """
    if path is None:
        return RulesConfig()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise RulesError(f"{path}: rules file must end in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc}") from None
    try:
        data: Any = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise RulesError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{path}: the rules must be a table/object of rule names")
    try:
        return RulesConfig.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{path}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: Any) -> str:
    """One validation error as 'key.path: what is wrong', listing the allowed keys for an unknown one."""
    loc = [str(part) for part in error["loc"]]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown key{hint}"
    return f"{where}: {error['msg']}"


def _allowed_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] = RulesConfig
    for name in parent:
        field = model.model_fields.get(name)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)
