"""Field work on one order, as the engineer's phone drives it: travel and arrival, diagnosis, warranty and quotes, parts, the checklist, photos and the customer's signature, the service report and escalation."""
from maintenance.fieldwork.arrival import arrival_flags, arrive, start_travel
from maintenance.fieldwork.escalation import SupervisorAction, decide_escalation, escalate
from maintenance.fieldwork.media import (MAX_PHOTO_BYTES, MAX_PHOTOS, MAX_SIGNATURE_BYTES, PhotoStage, add_photo, photo,
                                         photos, sign, signature, signature_image)
from maintenance.fieldwork.parts import use_part
from maintenance.fieldwork.report import complete, record_test, service_report, tick
from maintenance.fieldwork.warranty import (CauseClass, Warranty, decide_on_site, decide_quote, diagnose,
                                            make_quote, quote)

__all__ = ["MAX_PHOTOS", "MAX_PHOTO_BYTES", "MAX_SIGNATURE_BYTES", "CauseClass", "PhotoStage", "SupervisorAction",
           "Warranty", "add_photo", "arrival_flags", "arrive", "complete", "decide_escalation", "decide_on_site", "decide_quote",
           "diagnose", "escalate", "make_quote", "photo", "photos", "quote", "record_test", "service_report", "sign",
           "signature", "signature_image", "start_travel", "tick", "use_part"]
