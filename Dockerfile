# One image for both processes: the API (default CMD) and the worker (`python -m worker`).
# Migrations: `python -m worker.cli migrate`.
FROM python:3.11-slim

# No JWT_SECRET_KEY here: the processes refuse to start until the deployment provides one.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production

WORKDIR /app

COPY pyproject.toml alembic.ini ./
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY domain ./domain
COPY models ./models
COPY core ./core
COPY migrations ./migrations

# The sources stay in /app as well as site-packages: run from WORKDIR, the /app copy wins on
# sys.path, which worker.cli needs to find alembic.ini and migrations/ next to its package.
# data/ is where the HashFS content store writes (CONTENT_STORE_PATH=./data/content_store).
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/data \
    && chown app:app /app/data

USER app

EXPOSE 8000

# X-Forwarded-For is read by the app from TRUSTED_PROXIES only (ADR 0019).
CMD ["uvicorn", "worker.api_process:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
