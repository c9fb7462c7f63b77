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
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:////srv/tutor/data/tutor.db
EXPOSE 8000
VOLUME ["/srv/tutor/data"]
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"

CMD ["sh", "-c", "tutor migrate && tutor cards load && exec tutor serve"]
