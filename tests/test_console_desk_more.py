"""Acceptance for issue 13, item 7, the rest of the desk's console in a real browser (Debian's
headless Chromium via Selenium) against the real API server and PostgreSQL: a supervisor
takes a complaint from recorded through investigation and a plan to closing, each step in
its timeline with who; an agent calls a customer back, records "not solved" and sees the
work order reopened; the customer card shows the service history in time order, and the
customer's portal offers to rate the finished job. The browser's console log stays free of
errors (a failed request is one).

The supervisor's steps are the ones `pilecare docs screenshots` pictures
(simulators/complaint_tour.py); here its pictures go to a temporary folder."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api import accounts
from api.service_history import history
from maintenance import policy as policies
from maintenance.orders import open_corrective, transition
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.servicedesk import Channel, RequestClass, RequestState, move, open_request
from maintenance.servicedesk.follow_ups import schedule
from maintenance.servicedesk.intake import classify
from simulators.complaint_tour import ACTOR, SUPERVISOR, ComplaintTour
from tests.conftest import PASSWORD
from tests.console_fixtures import chrome, server  # noqa: F401 (fixtures: the API server and a browser)

POLICY = policies.load()
AGENT = "anna"


def timeline(page) -> list[tuple[str, str, str]]:
    """The page's timeline, oldest first: (state it led to or '', who, note)."""
    return [tuple(step) for step in page.js(
        "return [...document.querySelectorAll('[data-testid=timeline] li')].reverse().map(li =>"
        " [li.dataset.state, li.dataset.actor, (li.querySelector('.timeline-note') || {}).textContent || ''])")]


def forms(page, box: str) -> list[str]:
    return page.js("return [...document.querySelectorAll(arguments[0] + ' form')].map(f => f.dataset.testid)",
                   f"[data-testid={box}]")


def test_a_supervisor_takes_a_complaint_from_recorded_through_a_plan_to_closing_and_the_timeline_says_who(
        db, fleet, server, chrome):  # noqa: F811
    page = chrome
    tour = ComplaintTour(db, page, PASSWORD).start()
    tour.login()
    nav = page.js("return [...document.querySelectorAll('#nav a')].map(a => a.dataset.nav)")
    assert {"customers", "complaints", "follow-ups"} <= set(nav)
    # The request page names the complaint, and now links it.
    page.route(f"#/desk/requests/{tour.request_id}", "a[data-testid=request-complaint]")

    tour.open_complaint()
    # Only the steps the server allows from each state; closing is the supervisor's.
    assert tour.state() == "recorded"
    assert forms(page, "complaint-actions") == ["pass-form", "progress-form", "close-form"]
    assert tour.pass_to_supervisor() == "with_supervisor"
    assert forms(page, "complaint-actions") == ["investigation-form", "progress-form", "close-form"]
    assert tour.investigate("Missed appointment", "response_time", "process") == "investigating"
    assert forms(page, "complaint-actions") == ["plan-form", "investigation-form", "progress-form", "close-form"]
    soon = datetime.now(timezone.utc).date() + timedelta(days=3)
    assert tour.plan([("Call the customer back and apologise", SUPERVISOR, soon),
                      ("Review missed appointments with dispatch", "dispatch lead", soon + timedelta(days=4))]) == \
        "planned"
    assert db.execute("SELECT measure, owner, deadline, round FROM complaint_measures WHERE complaint_id = %s "
                      "ORDER BY id", (tour.complaint_id,)).fetchall() == [
        ("Call the customer back and apologise", SUPERVISOR, soon, 1),
        ("Review missed appointments with dispatch", "dispatch lead", soon + timedelta(days=4), 1)]
    first, second = tour.measures()
    tour.measure_done(first)
    assert tour.state() == "planned"
    tour.progress("We call you on Monday with the date of the visit.")
    # The last measure done asks the customer at once: the page links the follow-up.
    tour.measure_done(second)
    page.wait(lambda d: tour.state() == "following_up", message="the follow-up started")
    assert page.exists("[data-testid=complaint-actions] a[data-testid=complaint-follow-up]")
    assert tour.close("The customer was refunded and asked not to be called again") == "closed"
    assert forms(page, "complaint-actions") == []

    steps = timeline(page)
    assert [(state, who) for state, who, _ in steps if state] == [
        ("recorded", ACTOR), ("with_supervisor", SUPERVISOR), ("investigating", SUPERVISOR),
        ("planned", SUPERVISOR), ("following_up", SUPERVISOR), ("closed", SUPERVISOR)]
    notes = [(who, note) for state, who, note in steps if not state]
    assert (SUPERVISOR, "measure done: Call the customer back and apologise") in notes
    assert any(who == SUPERVISOR and note.startswith("progress update to the customer by phone") for who, note in notes)
    assert "investigation: cause 'missed appointment', responsible: process" in steps[2][2]
    assert db.execute("SELECT state, close_reason, closed_by FROM complaints WHERE id = %s",
                      (tour.complaint_id,)).fetchone() == \
        ("closed", "The customer was refunded and asked not to be called again", SUPERVISOR)

    # From the complaint to the customer's card: the complaint is in its history.
    tour.customer_card()
    assert page.exists(f"[data-testid=history] tr[data-kind=complaint][data-id='{tour.complaint_id}']")
    assert chrome.errors() == []


def _resolved_order(db, pile: str) -> int:
    order_id, _ = open_corrective(db, pile, "cooling", title=f"Fan stopped on {pile}", priority=2, actor="rules")
    for to in (S.READY_FOR_DISPATCH, S.RESOLVED):
        transition(db, order_id, to, actor="dispatcher-1")
    return order_id


def test_an_agent_records_a_follow_up_not_solved_and_sees_the_work_order_reopened(
        db, fleet, server, chrome):  # noqa: F811
    page = chrome
    accounts.create(db, AGENT, role=accounts.Role.AGENT, full_name="Anna Agent", password=PASSWORD, actor="test")
    older, newer = _resolved_order(db, "TP-0001"), _resolved_order(db, "TP-0002")
    schedule(db, POLICY)
    ids = {}
    for order_id, hours in ((older, 30), (newer, 2)):
        ids[order_id] = db.execute("UPDATE follow_ups SET due_at = now() - make_interval(hours => %s) "
                                   "WHERE work_order_id = %s RETURNING id", (hours, order_id)).fetchone()[0]
    page.login(AGENT, PASSWORD)

    # The queue: the longest due first.
    page.route("#/desk/follow-ups", f"[data-testid=follow-ups] [data-follow-up='{ids[newer]}']")
    assert page.js("return [...document.querySelectorAll('[data-testid=follow-ups] tbody tr')]"
                   ".map(r => +r.dataset.followUp)") == [ids[older], ids[newer]]
    page.click(f"[data-follow-up='{ids[older]}'] [data-testid=open-follow-up]")
    page.wait(lambda d: page.exists(f".page[data-follow-up='{ids[older]}'] [data-testid=follow-up-form]"),
              message="the follow-up's form")
    assert page.js("return document.querySelector('[data-testid=follow-up-job]').dataset.state") == "resolved"

    page.click("[data-testid=follow-up-form] input[name=solved][value=no]")
    page.click("[data-testid=follow-up-form] input[name=satisfaction][value='2']")
    page.d.find_element("id", "follow-up-comments").send_keys("The fan is loud again since Tuesday.")
    page.click("[data-testid=follow-up-form] button[type=submit]")
    page.wait(lambda d: page.js("return document.querySelector('.page[data-follow-up]').dataset.state") == "done",
              message="the answer recorded")
    # What "not solved" did, and where the order stands now: back to dispatch.
    assert page.js("return document.querySelector('.page[data-follow-up]').dataset.reopened") == "work_order"
    assert f"work order #{older} is reopened" in page.text("[data-testid=follow-up-outcome]")
    assert page.js("return document.querySelector('[data-testid=follow-up-job]').dataset.state") == \
        "ready_for_dispatch"
    assert "not solved" in page.text("[data-testid=follow-up-answer]")
    assert db.execute("SELECT solved, satisfaction, comments, recorded_by, channel FROM follow_ups WHERE id = %s",
                      (ids[older],)).fetchone() == (False, 2, "The fan is loud again since Tuesday.", AGENT, "call")
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (older,)).fetchone()[0] == "ready_for_dispatch"

    # Answered: off the queue.
    page.route("#/desk/follow-ups", f"[data-testid=follow-ups] [data-follow-up='{ids[newer]}']")
    assert not page.exists(f"[data-testid=follow-ups] [data-follow-up='{ids[older]}']")
    assert chrome.errors() == []


@pytest.fixture
def story(db, fleet):
    """CUST-1's service history over ten days: a question answered (its follow-up due), an order
    its pile opened itself and its service report, a complaint. Returns the resolved request."""
    now = datetime.now(timezone.utc)
    question = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Opening hours?",
                            actor=AGENT, at=now - timedelta(days=10))
    move(db, question, RequestState.RESOLVED, actor=AGENT, note="answered")
    schedule(db, POLICY)
    db.execute("UPDATE follow_ups SET due_at = %s WHERE request_id = %s", (now - timedelta(days=1), question))
    order_id, _ = open_corrective(db, "TP-0003", "cooling", title="Fan stopped", priority=2, actor="rules")
    db.execute("UPDATE work_orders SET created_at = %s WHERE id = %s", (now - timedelta(days=8), order_id))
    db.execute("INSERT INTO service_reports (work_order_id, diagnosis, action_taken, updated_by, completed_at) "
               "VALUES (%s, 'fan seized', 'fan replaced', 'eva', %s)", (order_id, now - timedelta(days=7)))
    complaint = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Rude engineer",
                             actor=AGENT, at=now - timedelta(days=5))
    classify(db, POLICY, None, complaint, RequestClass.COMPLAINT, actor=AGENT)
    db.execute("UPDATE complaints SET created_at = %s WHERE request_id = %s", (now - timedelta(days=5), complaint))
    return {"question": question, "order": order_id}


def test_the_customer_card_shows_the_service_history_in_time_order_and_the_portal_offers_a_rating(
        db, story, server, chrome):  # noqa: F811
    page = chrome
    accounts.create(db, AGENT, role=accounts.Role.AGENT, full_name="Anna Agent", password=PASSWORD, actor="test")
    page.login(AGENT, PASSWORD)
    page.route("#/desk/customers", "[data-testid=customers] [data-customer='CUST-1']")
    page.click("[data-customer='CUST-1'] [data-testid=open-customer]")
    page.wait(lambda d: page.exists(".page[data-customer='CUST-1'] [data-testid=history] tr[data-kind]"),
              message="the card's history")

    shown = page.js("return [...document.querySelectorAll('[data-testid=history] tbody tr')]"
                    ".map(r => [r.dataset.kind, +r.dataset.id])")
    expected = [[e.kind, e.id] for e in reversed(history(db, customer_id="CUST-1").data)]
    assert shown == expected, shown
    assert [kind for kind, _ in shown] == ["follow_up", "complaint", "request", "service_report", "work_order",
                                           "request"]
    stamps = page.js("return [...document.querySelectorAll('[data-testid=history] tbody tr')].map(r => r.dataset.at)")
    assert stamps == sorted(stamps, key=datetime.fromisoformat, reverse=True)
    order_row = f"[data-testid=history] tr[data-kind=work_order][data-id='{story['order']}']"
    assert "opened by the pile (telemetry)" in page.text(order_row)
    assert page.js("return document.querySelector(arguments[0] + ' a').getAttribute('href')", order_row) == \
        f"#/work-orders/{story['order']}"
    assert page.text("[data-testid=open-complaints] .tile-value") == "1"

    # The desk adds a contact on the card.
    page.click("[data-testid=contacts] details summary")
    page.d.find_element("id", "contact-new-name").send_keys("Kim Berg")
    page.d.find_element("id", "contact-new-phone").send_keys("+49 30 2345678")
    page.click("[data-testid=contact-add] button[type=submit]")
    page.wait(lambda d: "Kim Berg" in (page.text("[data-testid=contacts] .contacts") or ""), message="the new contact")
    assert db.execute("SELECT phone FROM customer_contacts WHERE name = 'Kim Berg'").fetchone()[0] == "+49302345678"

    # The customer rates the answered question from the portal: the survey link, no login.
    token = db.execute("SELECT survey_token FROM follow_ups WHERE request_id = %s", (story["question"],)).fetchone()[0]
    accounts.create(db, "jana", role=accounts.Role.CUSTOMER, full_name="Jana Meyer", password=PASSWORD, actor="test",
                    customer_id="CUST-1")
    page.click("#logout")
    page.wait(lambda d: d.current_url.endswith("/login"), message="logged out")
    page.login("jana", PASSWORD)
    rate = f"[data-testid=my-requests] [data-request='{story['question']}'] [data-testid=rate-job]"
    page.wait(lambda d: page.exists(rate), message="Rate this job")
    assert page.js("return document.querySelector(arguments[0]).getAttribute('href')", rate) == f"/survey/{token}"
    page.click(rate)
    page.wait(lambda d: page.text("h1") == "How did we do?", message="the survey page")
    assert chrome.errors() == []
