# The scheduler service: web (gunicorn), worker and beat all run from this image
# (docker-compose.yml; tests/test_containers.py checks the two agree with the settings).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code (.dockerignore keeps out .env, .venv, var/ and .git), owned by root:
# the service user can read it but not change it.
COPY . .

# Static files are collected at build time and served by WhiteNoise. The
# throwaway key exists only for this build step.
RUN SECRET_KEY=collectstatic-only ENV_FILE= STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput -v0

# The code's bytecode, compiled once here: the processes run with PYTHONDONTWRITEBYTECODE (and
# could not write into /app anyway), so without it every start compiles the project again
# (beat's start: ~1.0 s with it, 1.5-2.7 s without, on a quiet 2-vCPU machine; bench/README.md).
RUN python -m compileall -q -j 0 accounts jobs scheduler_site

RUN useradd --system --uid 10001 --home-dir /app scheduler \
    && mkdir -p /app/var && chown -R scheduler /app/var
USER scheduler

# ENV_FILE= : configuration comes from the container's environment only.
ENV STATIC_ROOT=/app/staticfiles \
    ENV_FILE=
EXPOSE 8000
CMD ["gunicorn", "scheduler_site.wsgi", "--config", "gunicorn.conf.py"]
