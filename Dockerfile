# One image for the worker and the web app; the command picks which (docker-compose.yml). Two stages: the build
# stage installs the locked dependencies with uv, the runtime stage copies the environment and the source only,
# so neither uv nor any build tool, nor the embedded dev servers (the `dev-stack` extra), reach production.
FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.8
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
COPY web ./web
COPY complaints ./complaints
COPY migrations ./migrations
COPY worker.py ./
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH COMPLAINTS_DATA_DIR=/var/lib/complaints
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent complaints \
    && mkdir -p /var/lib/complaints && chown complaints:complaints /var/lib/complaints
WORKDIR /app
COPY --from=build /app /app
USER 10001:10001
EXPOSE 8000 9464 2525
# The web app's health; the worker's service in docker-compose.yml checks its metrics endpoint instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["complaints", "worker"]
