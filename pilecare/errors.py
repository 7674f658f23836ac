"""One root error with a code and a default description; the API maps these to 4xx."""
from __future__ import annotations


class PilecareError(Exception):
    code = "error"
    status = 400
    description = "The request could not be processed."

    def __init__(self, detail: str | None = None):
        super().__init__(detail or self.description)
        self.detail = detail or self.description


class NotFound(PilecareError):
    code = "not_found"
    status = 404
    description = "No such record."


class Conflict(PilecareError):
    code = "conflict"
    status = 409
    description = "The record is not in a state that allows this."


class InvalidInput(PilecareError):
    code = "invalid_input"
    status = 422
    description = "The input is not valid."


class Unauthorized(PilecareError):
    code = "unauthorized"
    status = 401
    description = "Log in first: send a bearer token from POST /auth/token."


class Forbidden(PilecareError):
    code = "forbidden"
    status = 403
    description = "Your role does not allow this."


class TooManyRequests(PilecareError):
    code = "too_many_requests"
    status = 429
    description = "Too many attempts; wait and try again."

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 60):
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class UnsupportedMediaType(PilecareError):
    code = "unsupported_media_type"
    status = 415
    description = "The body is not of a media type this endpoint takes."


class PayloadTooLarge(PilecareError):
    code = "payload_too_large"
    status = 413
    description = "The upload is larger than this endpoint takes."


class LengthRequired(PilecareError):
    code = "length_required"
    status = 411
    description = "Send the body's Content-Length."
