"""The live page at `/`, in a real headless Chromium, against a real worker on the embedded broker.

The page is opened first, then real filings are produced to the raw topic: their alerts must show up on the page
by themselves (the page polls `/alerts`), newest on top, with the right EDGAR links; the holdings lookup must show
what the worker's own JSON API answers. Expected alerts come from the pure functions (the same computation as
tests/test_pipeline.py), expected holdings from the worker's API and, again, from the pure functions.

Needs Debian's Chromium (`apt-get install chromium`; `make test` installs it when it can) and the `playwright`
package (the `dev` extra). Playwright's own browser downloads are never used: the machines have no internet.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.broker import EmbeddedBroker
from streams.parse import parse_filing
from tests.broker import produce, unique_name, wait_for
from tests.test_pipeline import expected_outputs, issuer_key
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start-up, and on this closed network its connections get refused.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 90_000  # first alert: the worker's consumer groups join on Tansu, which takes a while

MAESTRI = "63f718a06c6b.xml"  # AAPL, CFO Luca Maestri sells $28.5M (bare XML: no accession, no EDGAR link)
ADAMS = "a6ab43128199.txt"  # AAPL, General Counsel Katherine Adams sells $4.0M (full submission: accession)
MITHRIL = "a87531161a19.xml"  # GUTS, a purchase by 6 joint filers (Mithril entities and Peter Thiel)


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def edgar_url(issuer_cik: str, accession: str) -> str:
    return (
        f"https://www.sec.gov/Archives/edgar/data/{int(issuer_cik)}/"
        f"{accession.replace('-', '')}/{accession}-index.htm"
    )


def shares_text(value: str) -> str:
    """How the page shows a share count: thousands separators, the decimals the filing gave, no trailing 0s."""
    number = Decimal(value)
    whole, _, fraction = format(abs(number), "f").partition(".")
    fraction = fraction.rstrip("0")
    return ("−" if number < 0 else "") + f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def shown_rows(lines: list[dict[str, Any]]) -> int:
    """Rows the issuer view shows: one per line, but one per joint filing for the lines of its joint filers."""
    joint = {
        json.dumps(
            [
                line["key"] | {"owner_cik": None},
                line["shares_owned"],
                line["value_owned"],
                line["as_of_date"],
                line["source_accession"],
                sorted(line["joint_group"]),
            ],
            sort_keys=True,
        )
        for line in lines
        if line["joint_group"]
    }
    return len(joint) + sum(1 for line in lines if not line["joint_group"])


async def owners_on_page(rows: Any) -> set[str]:
    return {
        cik for row in await rows.all() for cik in (await row.get_attribute("data-owner-ciks") or "").split()
    }


def millions_text(value: str) -> str:
    tenths = (Decimal(value) / Decimal(1_000_000)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"${tenths:,}M"


async def api(
    worker: WorkerProcess, path: str, until: Callable[[Any], bool] = bool, timeout: float = 60
) -> Any:
    """The worker's JSON answer for ``path`` once it answers 200 with a body that satisfies ``until`` (the
    holdings table may lag the alerts)."""

    async def fetch() -> Any:
        status, body = await asyncio.to_thread(worker.get, path)
        return body if status == 200 and until(body) else None

    return await wait_for(
        fetch, timeout=timeout, interval=0.5, message=lambda: f"GET {path} never answered 200"
    )


async def test_live_page_shows_alerts_as_they_arrive_and_looks_up_holdings(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    chromium = chromium_path()
    if chromium is None:
        pytest.skip(
            "Chromium is not installed: `apt-get install chromium` (or `make test`, which installs it) "
            "to run the browser test"
        )
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        pytest.skip("playwright is not installed: `.venv/bin/pip install -e '.[dev]'` (or `make test`)")

    docs = {name: (SAMPLES / name).read_bytes() for name in (MAESTRI, ADAMS, MITHRIL)}
    filings = {name: parse_filing(data) for name, data in docs.items()}
    first_batch = [docs[MAESTRI]]
    second_batch = [docs[ADAMS], docs[MITHRIL]]
    first_alerts = {
        json.loads(a)["alert_id"]: json.loads(a) for a in expected_outputs(first_batch)["alerts"].values()
    }
    everything = expected_outputs(first_batch + second_batch)
    all_alerts = {k: json.loads(v) for k, v in everything["alerts"].items()}
    second_alerts = {k: v for k, v in all_alerts.items() if k not in first_alerts}
    assert first_alerts and second_alerts, "the chosen samples must raise alerts"

    prefix = unique_name("page")
    worker = WorkerProcess(broker, prefix, tmp_path / "worker").start()
    sink = WorkerProcess(broker, prefix, tmp_path / "worker", command=("sink",)).start()  # the page's history
    page_errors: list[str] = []
    external: list[str] = []
    try:
        await worker.ready()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1440, "height": 900})
                base = f"http://127.0.0.1:{worker.web_port}"

                async def only_local(route: Any) -> None:
                    if route.request.url.startswith(base + "/"):
                        await route.continue_()
                    else:  # the page must not need anything from outside (no CDN, fonts, analytics)
                        external.append(route.request.url)
                        await route.abort()

                await context.route("**/*", only_local)
                page = await context.new_page()
                page.on("pageerror", lambda error: page_errors.append(str(error)))
                page.set_default_timeout(TIMEOUT_MS)

                response = await page.goto(base + "/")
                assert response is not None and response.status == 200
                assert "text/html" in (response.headers.get("content-type") or "")
                await expect(page.locator("#status")).to_have_attribute("data-state", "ok")
                alerts = page.locator("#alerts [data-alert-id]")
                await expect(alerts).to_have_count(0)  # a fresh prefix: nothing yet

                # Filings arrive while the page is open: it must pick up their alerts by itself.
                await produce(
                    broker.bootstrap, f"{prefix}.raw", first_batch, keys=[issuer_key(d) for d in first_batch]
                )
                for alert_id, alert in first_alerts.items():
                    item = page.locator(f'#alerts [data-alert-id="{alert_id}"]')
                    await expect(item.locator('[data-testid="alert-message"]')).to_have_text(alert["message"])
                    await expect(item.locator('[data-testid="alert-rule"]')).to_have_text(alert["rule"])
                    await expect(item.locator('[data-testid="alert-severity"]')).to_have_text(
                        alert["severity"]
                    )
                    await expect(item.locator('[data-testid="alert-amount"]')).to_have_text(
                        millions_text(alert["dollar_value"])
                    )
                    await expect(item).to_contain_text("Apple Inc.")
                    await expect(item).to_contain_text("AAPL")
                    await expect(item).to_contain_text("0000320193")
                    await expect(item.locator('[data-testid="alert-owners"]')).to_contain_text("Maestri Luca")
                    await expect(item.locator('[data-testid="edgar-link"]')).to_have_count(
                        0
                    )  # bare XML: none

                await produce(
                    broker.bootstrap,
                    f"{prefix}.raw",
                    second_batch,
                    keys=[issuer_key(d) for d in second_batch],
                )
                await expect(alerts).to_have_count(len(all_alerts))
                for alert_id, alert in all_alerts.items():
                    item = page.locator(f'#alerts [data-alert-id="{alert_id}"]')
                    await expect(item.locator('[data-testid="alert-message"]')).to_have_text(alert["message"])
                # New alerts go on top, whatever their filing dates.
                top = await alerts.first.get_attribute("data-alert-id")
                assert top in second_alerts
                last = await alerts.last.get_attribute("data-alert-id")
                assert last in first_alerts

                # The Adams sale was accepted by EDGAR at a known time under a known accession: a link to it.
                adams = filings[ADAMS]
                assert adams.accession_number and adams.acceptance_datetime
                adams_alerts = [
                    a for a in second_alerts.values() if adams.accession_number in a["accession_numbers"]
                ]
                assert adams_alerts
                for alert in adams_alerts:
                    item = page.locator(f'#alerts [data-alert-id="{alert["alert_id"]}"]')
                    link = item.locator('[data-testid="edgar-link"]')
                    await expect(link).to_have_count(1)
                    await expect(link).to_have_attribute(
                        "href", edgar_url(adams.issuer.cik, adams.accession_number)
                    )
                    await expect(link).to_have_attribute("target", "_blank")
                    assert "noopener" in (await link.get_attribute("rel") or "").split()
                    await expect(link).to_have_text(adams.accession_number)
                    await expect(item.locator('[data-testid="alert-time"]')).to_contain_text(
                        adams.acceptance_datetime.strftime("%Y-%m-%d %H:%M")
                    )

                # Nothing is added twice: the event stream, opened after the first poll without an arrival
                # number, sends the newest alerts again (then every new one); once it has delivered, the
                # page still shows each alert once.
                status = page.locator("#status")
                await expect(status).to_contain_text("Live (pushed) · last alert", timeout=20_000)
                await expect(status).to_have_attribute("data-state", "ok")
                await expect(alerts).to_have_count(len(all_alerts))

                # Insider lookup by CIK, typed without its leading zeros.
                owner_cik = adams.reporting_owners[0].cik
                want = {
                    (h.key.security_title, h.key.direct_indirect, str(h.shares_owned))
                    for h in everything["holdings"].values()
                    if h.key.owner_cik == owner_cik
                }
                lines = await api(
                    worker,
                    f"/holdings/owner/{owner_cik}",
                    until=lambda body: (
                        {
                            (h["key"]["security_title"], h["key"]["direct_indirect"], h["shares_owned"])
                            for h in body
                        }
                        == want
                    ),
                )
                await page.select_option("#lookup-kind", "owner")
                await page.fill("#lookup-input", str(int(owner_cik)))
                await page.click("#lookup-submit")
                rows = page.locator('#holdings [data-testid="holding-row"]')
                await expect(rows).to_have_count(len(lines))
                await expect(page.locator("#lookup-error")).to_be_hidden()
                await expect(page.locator("#lookup-summary")).to_contain_text("Adams Katherine L.")
                for line in lines:
                    key = line["key"]
                    row = rows.filter(
                        has=page.locator('[data-col="security"]', has_text=key["security_title"])
                    ).filter(
                        has=page.locator('[data-col="direct-indirect"]', has_text=key["direct_indirect"])
                    )
                    await expect(row).to_have_count(1)
                    await expect(row.locator('[data-col="issuer"]')).to_contain_text(line["issuer_name"])
                    await expect(row.locator('[data-col="issuer"]')).to_contain_text(
                        line["issuer_trading_symbol"]
                    )
                    await expect(row.locator('[data-col="shares"]')).to_have_text(
                        shares_text(line["shares_owned"])
                    )
                    await expect(row.locator('[data-col="as-of"]')).to_have_text(line["as_of_date"])
                    await expect(row.locator('[data-col="joint"] [data-testid="joint-mark"]')).to_have_count(
                        0
                    )
                    if line["source_accession"]:
                        await expect(row.locator('[data-testid="edgar-link"]')).to_have_attribute(
                            "href", edgar_url(key["issuer_cik"], line["source_accession"])
                        )

                # Issuer lookup by ticker (lower case): resolved through /issuers/ticker, then every insider.
                resolved = await api(worker, "/issuers/ticker/AAPL")
                assert resolved["issuer_cik"] == adams.issuer.cik
                apple_owners = {f.reporting_owners[0].cik for f in (filings[MAESTRI], adams)}
                issuer_lines = await api(
                    worker,
                    f"/holdings/issuer/{adams.issuer.cik}",
                    until=lambda body: {line["key"]["owner_cik"] for line in body} >= apple_owners,
                )
                await page.select_option("#lookup-kind", "issuer")
                await page.fill("#lookup-input", "aapl")
                await page.click("#lookup-submit")
                await expect(rows).to_have_count(shown_rows(issuer_lines))
                await expect(page.locator("#lookup-summary")).to_contain_text(resolved["issuer_name"])
                assert await owners_on_page(rows) == {line["key"]["owner_cik"] for line in issuer_lines}
                for line in issuer_lines:
                    row = rows.filter(
                        has=page.locator('[data-col="insider"]', has_text=line["key"]["owner_cik"])
                    ).filter(
                        has=page.locator('[data-col="security"]', has_text=line["key"]["security_title"])
                    )
                    await expect(row.first.locator('[data-col="insider"]')).to_contain_text(
                        line["owner_name"]
                    )
                    await expect(row.first.locator('[data-col="shares"]')).to_have_text(
                        shares_text(line["shares_owned"])
                    )
                    await expect(row.first.locator('[data-col="as-of"]')).to_have_text(line["as_of_date"])

                # A joint filing's lines are marked, and shown once with all the joint filers (not once each).
                mithril = filings[MITHRIL]
                joint_owners = {o.cik for o in mithril.reporting_owners}
                joint_lines = await api(
                    worker,
                    f"/holdings/issuer/{mithril.issuer.cik}",
                    until=lambda body: {line["key"]["owner_cik"] for line in body} == joint_owners,
                )
                assert all(line["joint_group"] for line in joint_lines)
                await page.fill("#lookup-input", mithril.issuer.cik.lstrip("0"))
                await page.click("#lookup-submit")
                await expect(rows).to_have_count(shown_rows(joint_lines))
                assert shown_rows(joint_lines) < len(joint_lines)
                await expect(rows.locator('[data-testid="joint-mark"]')).to_have_count(
                    shown_rows(joint_lines)
                )
                assert await owners_on_page(rows) == joint_owners
                for row in await rows.all():
                    assert set((await row.get_attribute("data-owner-ciks") or "").split()) == joint_owners

                # Clear messages for what cannot be looked up.
                error = page.locator("#lookup-error")
                await page.fill("#lookup-input", "ZZZZ")
                await page.click("#lookup-submit")
                await expect(error).to_contain_text("No issuer with ticker ZZZZ")
                await expect(rows).to_have_count(0)
                await page.select_option("#lookup-kind", "owner")
                await page.fill("#lookup-input", "999")
                await page.click("#lookup-submit")
                await expect(error).to_contain_text("No holdings known for insider CIK 0000000999")
                await page.fill("#lookup-input", "AAPL")
                await page.click("#lookup-submit")
                await expect(error).to_contain_text("Enter an insider CIK")

                # Leave the page showing something useful for the screenshot.
                await page.select_option("#lookup-kind", "issuer")
                await page.fill("#lookup-input", "AAPL")
                await page.click("#lookup-submit")
                await expect(rows).to_have_count(len(issuer_lines))
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "alerts-page.png"))
            finally:
                await browser.close()
    finally:
        worker.stop(signal.SIGKILL)
        sink.stop(signal.SIGKILL)

    assert page_errors == [], f"JavaScript errors on the page: {page_errors}"
    assert external == [], f"the page asked for outside resources: {external}"
