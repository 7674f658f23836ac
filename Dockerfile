# One image for every pilecare process; the service's command picks the role
# (`pilecare migrate`, `pilecare ingest`, `pilecare api`, `pilecare simulate`, …).

# Build the wheel in a throwaway stage so sources, tests and build tools stay out of
# the runtime image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels \
 && useradd --create-home --uid 10001 --user-group pilecare
# pilecare keeps local state under .pilecare/ in its working directory: make that the
# user's own writable home.
USER pilecare
WORKDIR /home/pilecare
ENTRYPOINT ["pilecare"]
CMD ["--help"]
