# One image for every Credo service; the compose file or manifest picks the service:
#   docker run credo services.profiles
FROM python:3.11-slim AS build
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The console's front-end packages, from the npm lock file (the test-only ones left out).
FROM node:20-slim AS assets
WORKDIR /assets
COPY services/console/package.json services/console/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
# The CJK font that statements of account embed (Chinese names must render in the PDF).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 credo
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY libs ./libs
COPY services ./services
COPY --from=assets /assets/node_modules ./services/console/node_modules
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 CREDO_HOST=0.0.0.0 CREDO_PORT=8000 \
    CREDO_CONSOLE_HOST=0.0.0.0 CREDO_CONSOLE_PORT=8000
USER credo
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ['CREDO_PORT'], timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["services.profiles"]
