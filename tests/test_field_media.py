"""Photos and the customer's signature from the engineer's phone (issue 12, item 1; R-REPORT):
checked by decoding them, kept with the order, shown with the service report; a drawn
signature's name signs the report off."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import transition
from tests.fieldjob import REPORT, accepted_order, drive_to_site, timeline_notes


def picture(kind: str = "JPEG", size=(64, 48), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, kind)
    return out.getvalue()


def signature_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture
def job(db, fleet):
    return accepted_order(db, fleet[1])


@pytest.fixture
def eva(client_for, job):
    return client_for("engineer", "eva", engineer_id="E1")


def upload(phone, order_id, data: bytes, stage="before", *, name="photo.jpg", content_type="image/jpeg", **form):
    return phone.post(f"/field/work-orders/{order_id}/photos", files={"file": (name, data, content_type)},
                      data={"stage": stage, **form})


def test_before_and_after_photos_are_kept_with_what_decoding_found_and_served_back(db, job, eva, client_for):
    jpeg, webp = picture("JPEG", (640, 480)), picture("WEBP", (320, 240))
    before = upload(eva, job, jpeg, caption="fan blade broken")
    after = upload(eva, job, webp, "after", name="after.webp", content_type="image/webp")
    assert (before.status_code, after.status_code) == (201, 201)
    shown = before.json()
    assert {k: v for k, v in shown.items() if k not in ("id", "created_at")} == {
        "order_id": job, "stage": "before", "content_type": "image/jpeg", "bytes": len(jpeg), "width": 640,
        "height": 480, "caption": "fan blade broken", "taken_by": "eva", "superseded_at": None,
        "url": f"/work-orders/{job}/photos/{shown['id']}"}
    assert after.json()["content_type"] == "image/webp" and after.json()["width"] == 320
    image = eva.get(shown["url"])
    assert image.status_code == 200 and image.content == jpeg
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff" and image.headers["cache-control"] == "private"
    listed = client_for("dispatcher").get(f"/work-orders/{job}/photos").json()
    assert [(p["stage"], p["url"]) for p in listed] == [("before", shown["url"]), ("after", after.json()["url"])]
    assert timeline_notes(db, job, "photo added%") == ["photo added (before): fan blade broken", "photo added (after)"]
    assert db.execute("SELECT actor FROM work_order_events WHERE note LIKE 'photo added%' LIMIT 1").fetchone() == (
        "eva",)


def test_a_png_sent_as_a_jpeg_is_kept_as_the_png_it_is(db, job, eva):
    png = picture("PNG")
    sent = upload(eva, job, png, name="photo.jpg", content_type="image/jpeg")
    assert sent.status_code == 201 and sent.json()["content_type"] == "image/png"
    assert eva.get(sent.json()["url"]).headers["content-type"] == "image/png"


@pytest.mark.parametrize("data, says", [
    (b"GIF89a" + b"\x00" * 64, "file: not a readable image"),
    (b"%PDF-1.4 not a photo", "file: not a readable image (no JPEG, PNG or WebP could be decoded)"),
    (picture("GIF"), "file: a GIF image; send JPEG or PNG or WebP"),
    (picture("JPEG", (640, 480))[:2000], "file: not a readable image"),  # cut short in transfer
])
def test_what_is_not_a_jpeg_png_or_webp_is_refused_naming_the_file(db, job, eva, data, says):
    refused = upload(eva, job, data)
    assert refused.status_code == 422 and refused.json()["detail"].startswith(says), refused.text
    assert "object at 0x" not in refused.json()["detail"]  # no internals of the server in the answer
    assert db.execute("SELECT count(*) FROM work_order_photos").fetchone() == (0,)


def test_a_photo_over_5_mib_is_refused_naming_the_file(db, job, eva):
    refused = upload(eva, job, b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024))
    assert refused.status_code == 413 and refused.json()["detail"].startswith("file: over 5 MiB; a photo may be")


def test_an_upload_far_over_the_limit_is_refused_before_it_is_read(db, job, eva):
    refused = upload(eva, job, b"\x00" * (7 * 1024 * 1024))
    assert refused.status_code == 413 and refused.json()["detail"].startswith("body: ")


def test_the_21st_photo_of_a_visit_is_refused(db, job, eva):
    small = picture("PNG", (8, 8))
    assert [upload(eva, job, small).status_code for _ in range(20)] == [201] * 20
    refused = upload(eva, job, small, "after")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"work order {job} has 20 photos of this visit already; a visit keeps at most 20")


def test_a_stage_other_than_before_or_after_is_refused_naming_it(db, job, eva):
    refused = upload(eva, job, picture(), "during")
    assert refused.status_code == 422 and refused.json()["detail"].startswith("stage:")


def test_someone_elses_order_does_not_exist_for_photos(db, fleet, job, eva, client_for):
    photo = upload(eva, job, picture()).json()
    emil = client_for("engineer", "emil", engineer_id="E2")
    assert upload(emil, job, picture()).status_code == 404
    assert emil.get(f"/work-orders/{job}/photos").status_code == 404
    assert emil.get(photo["url"]).status_code == 404
    assert eva.get(f"/work-orders/{job}/photos/{photo['id'] + 1}").status_code == 404
    assert eva.get(f"/work-orders/{job + 1}/photos").status_code == 404


def test_a_closed_order_takes_no_more_photos(db, job, eva):
    db.execute("UPDATE work_orders SET state = 'closed', closed_at = now() WHERE id = %s", (job,))
    refused = upload(eva, job, picture())
    assert refused.status_code == 409 and "is closed" in refused.json()["detail"]


def test_a_signature_round_trip_and_a_new_one_replaces_the_earlier(db, job, eva, client_for):
    drive_to_site(eva, job)
    first_png, second_png = picture("PNG", (300, 100), (0, 0, 0)), picture("PNG", (300, 100), (0, 0, 90))
    first = eva.post(f"/field/work-orders/{job}/signature",
                     json={"image": signature_url(first_png), "signer_name": "J. Meyer"})
    assert first.status_code == 201
    assert {k: v for k, v in first.json().items() if k != "signed_at"} == {
        "order_id": job, "signer_name": "J. Meyer", "bytes": len(first_png), "url": f"/work-orders/{job}/signature"}
    second = eva.post(f"/field/work-orders/{job}/signature",
                      json={"image": signature_url(second_png), "signer_name": "Jana Meyer"})
    assert second.status_code == 201
    shown = client_for("agent").get(f"/work-orders/{job}/signature")
    assert shown.content == second_png and shown.headers["content-type"] == "image/png"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert timeline_notes(db, job, "customer signature%") == [
        "customer signature by J. Meyer", "customer signature by Jana Meyer (replaces the one by J. Meyer)"]


@pytest.mark.parametrize("image, status, says", [
    ("data:image/jpeg;base64,AAAA", 422, "image: a data URL starting 'data:image/png;base64,'"),
    ("data:image/png;base64,not base64!", 422, "image: not valid base64"),
    (signature_url(picture("JPEG")), 422, "image: a JPEG image; send PNG"),
    (signature_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * (256 * 1024)), 413, "image: more than 256 KiB decoded"),
])
def test_a_signature_that_is_not_a_small_png_data_url_is_refused_naming_the_image(db, job, eva, image, status, says):
    refused = eva.post(f"/field/work-orders/{job}/signature", json={"image": image, "signer_name": "J. Meyer"})
    assert refused.status_code == status and refused.json()["detail"].startswith(says), refused.text


def test_the_report_includes_the_signature_and_the_photos(db, job, eva, client_for):
    drive_to_site(eva, job)
    assert client_for("viewer").get(f"/work-orders/{job}/report").json()["signature"] is None
    photo = upload(eva, job, picture()).json()
    eva.post(f"/field/work-orders/{job}/signature", json={"image": signature_url(picture("PNG")),
                                                          "signer_name": "J. Meyer"})
    report = client_for("viewer").get(f"/work-orders/{job}/report").json()
    assert report["photos"] == [photo]
    assert set(report["signature"]) == {"signer_name", "signed_at", "url"}
    assert (report["signature"]["signer_name"], report["signature"]["url"]) == ("J. Meyer",
                                                                               f"/work-orders/{job}/signature")


def test_completion_takes_the_sign_off_name_from_the_drawn_signature(db, job, eva):
    drive_to_site(eva, job)
    eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "30 min charge OK"})
    without = eva.post(f"/field/work-orders/{job}/complete", json=REPORT)
    assert without.status_code == 422 and "customer sign-off name" in without.json()["detail"]
    eva.post(f"/field/work-orders/{job}/signature", json={"image": signature_url(picture("PNG")),
                                                          "signer_name": "J. Meyer"})
    done = eva.post(f"/field/work-orders/{job}/complete", json=REPORT)
    assert done.status_code == 200 and done.json()["state"] == "resolved"
    assert eva.get(f"/work-orders/{job}/report").json()["report"]["customer_signoff_name"] == "J. Meyer"


def test_completion_with_a_name_and_no_drawn_signature_still_works(db, job, eva):
    drive_to_site(eva, job)
    eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "30 min charge OK"})
    done = eva.post(f"/field/work-orders/{job}/complete", json=REPORT | {"customer_signoff_name": "J. Meyer"})
    assert done.status_code == 200
    assert eva.get(f"/work-orders/{job}/report").json()["signature"] is None


def test_a_photo_upload_repeated_with_its_key_and_a_new_multipart_boundary_is_kept_once(db, job, eva):
    jpeg = picture()
    first = eva.post(f"/field/work-orders/{job}/photos", files={"file": ("a.jpg", jpeg, "image/jpeg")}, data={"stage": "before"},
        headers={"Idempotency-Key": "photo-1"})
    again = eva.post(f"/field/work-orders/{job}/photos", files={"file": ("a.jpg", jpeg, "image/jpeg")},
                     data={"stage": "before"}, headers={"Idempotency-Key": "photo-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert db.execute("SELECT count(*) FROM work_order_photos").fetchone() == (1,)


def test_my_orders_give_the_kind_the_due_date_and_the_sla_deadlines(db, job, eva):
    db.execute("UPDATE work_orders SET response_due_at = '2030-01-01T10:00Z', resolve_due_at = '2030-01-02T10:00Z'")
    [mine] = eva.get("/field/work-orders").json()
    assert (mine["kind"], mine["due_at"], mine["due_date"]) == ("corrective", None, None)
    assert (mine["response_due_at"], mine["resolve_due_at"]) == ("2030-01-01T10:00:00Z", "2030-01-02T10:00:00Z")
    db.execute("UPDATE work_orders SET kind = 'preventive', due_at = '2030-03-01T23:30Z'")
    db.execute("UPDATE sites SET timezone = 'Europe/Berlin'")
    [mine] = eva.get("/field/work-orders").json()
    assert (mine["kind"], mine["due_date"]) == ("preventive", "2030-03-02")  # past midnight in Berlin


def test_a_photo_sent_as_json_is_refused_saying_a_multipart_form_is_wanted(db, job, eva):
    refused = eva.post(f"/field/work-orders/{job}/photos", json={"stage": "before"})
    assert refused.status_code == 415
    assert refused.json()["detail"].startswith("body: this endpoint wants a form (Content-Type: multipart/form-data)")


def test_a_reopened_order_is_signed_afresh_and_keeps_the_first_visits_signature_and_photos_with_that_visit(
        db, job, eva, client_for):
    drive_to_site(eva, job)
    first_photo = upload(eva, job, picture()).json()
    eva.post(f"/field/work-orders/{job}/signature", json={"image": signature_url(picture("PNG")),
                                                          "signer_name": "J. Meyer"})
    eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "30 min charge OK"})
    assert eva.post(f"/field/work-orders/{job}/complete", json=REPORT).status_code == 200
    # The repair did not hold: the order goes back to dispatch and Eva is sent again.
    transition(db, job, S.READY_FOR_DISPATCH, actor="verification", note="fault returned")
    transition(db, job, S.ASSIGNED, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (job,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) VALUES (%s, 'E1', "
               "'accepted', 'dispatch')", (job,))
    transition(db, job, S.ACCEPTED, actor="E1")
    drive_to_site(eva, job)
    eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "fan steady"})

    again = eva.post(f"/field/work-orders/{job}/complete", json=REPORT)
    assert again.status_code == 422 and "customer sign-off name" in again.json()["detail"]
    report = client_for("viewer").get(f"/work-orders/{job}/report").json()
    assert (report["signature"], report["photos"]) == (None, [])
    assert client_for("viewer").get(f"/work-orders/{job}/signature").status_code == 404
    [earlier] = report["earlier_visits"]
    assert earlier["signature"]["signer_name"] == "J. Meyer"
    assert [p["id"] for p in earlier["photos"]] == [first_photo["id"]]
    assert earlier["photos"][0]["superseded_at"] == earlier["superseded_at"]


def test_a_small_file_that_decodes_to_a_huge_picture_is_refused_before_it_is_decoded(db, job, eva):
    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, "PNG")  # 64 megapixels in a few KiB
    assert len(bomb.getvalue()) < 100_000
    refused = upload(eva, job, bomb.getvalue(), name="bomb.png", content_type="image/png")
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("file: 8000 × 8000 pixels") and "megapixels" in refused.json()["detail"]


def test_a_blank_name_neither_signs_nor_signs_the_report_off(db, job, eva):
    drive_to_site(eva, job)
    eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "30 min charge OK"})
    unsigned = eva.post(f"/field/work-orders/{job}/signature", json={"image": signature_url(picture("PNG")),
                                                                     "signer_name": "   "})
    assert unsigned.status_code == 422 and unsigned.json()["detail"].startswith("signer_name: ")
    blank = eva.post(f"/field/work-orders/{job}/complete", json=REPORT | {"customer_signoff_name": " \t"})
    assert blank.status_code == 422 and "customer sign-off name" in blank.json()["detail"]
    # A name with spaces around it is kept without them.
    signed = eva.post(f"/field/work-orders/{job}/signature", json={"image": signature_url(picture("PNG")),
                                                                   "signer_name": "  J. Meyer "})
    assert signed.status_code == 201 and signed.json()["signer_name"] == "J. Meyer"
    assert db.execute("SELECT count(*) FROM work_orders WHERE id = %s AND state = 'on_site'", (job,)).fetchone() == (1,)
