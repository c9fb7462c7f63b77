# Distill Tutor: a slim image that runs as a non-root user, migrates its database, then serves.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 tutor
WORKDIR /srv/tutor

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN mkdir -p data && chown tutor:tutor data

USER tutor
# JSON log lines for the container's log collector; WEB_CONCURRENCY sets the number of worker processes.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:////srv/tutor/data/tutor.db \
    LOG_FORMAT=json
EXPOSE 8000
VOLUME ["/srv/tutor/data"]
# Liveness only (/healthz touches no database); the start period covers the migration and the card load.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"

CMD ["sh", "-c", "tutor migrate && tutor cards load && exec tutor serve"]
