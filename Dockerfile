# One image for every pilecare process; the service's command picks the role
# (`pilecare migrate`, `pilecare ingest`, `pilecare api`, `pilecare simulate`, …).

# Build the wheel in a throwaway stage so sources, tests and build tools stay out of
# the runtime image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

# The operator console: its static files plus the npm packages it serves (Chart.js, and
# Swagger UI and ReDoc for /docs and /redoc),
# installed from the lock file; node stays out of the runtime image.
FROM node:20-slim AS console
WORKDIR /console
COPY api/console/ ./
RUN rm -rf node_modules && npm ci --no-audit --no-fund --loglevel=error \
 && rm -f package.json package-lock.json

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /tmp/wheels
COPY --from=console /console /tmp/console
# The wheel holds the Python code; the console's files go next to it, where
# api/routes/console.py looks for them.
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels \
 && dest="$(python -c 'import api, os; print(os.path.dirname(api.__file__))')/console" \
 && rm -rf "$dest" && mv /tmp/console "$dest" \
 && useradd --create-home --uid 10001 --user-group pilecare
# pilecare keeps local state under .pilecare/ in its working directory: make that the
# user's own writable home.
USER pilecare
WORKDIR /home/pilecare
ENTRYPOINT ["pilecare"]
CMD ["--help"]
